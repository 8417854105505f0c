"""The views as a first visitor meets them, in headless Chromium on a desktop (1280x900), a projector (1024x768) and
a phone (390x844, touch): the labelled traversal beside the decoded digit, picked examples shown as pictures, the
examples in full rows, samples that follow the temperature, every view reachable on a phone, the map beside its
decoded point, one warning naming the empty input, no part kept for API clients on screen, links in sentences
unpadded, the latent map's axis labels at 12 px on a phone (~5 min).
"""

import time
from collections.abc import Iterator
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import pytest

from benchmarks.harness import (
    PHONE,
    ROOT,
    SCORE_SHOWN,
    choose_example,
    image_src,
    open_app,
    open_interpolate,
    open_latent_map,
    open_on_example,
    open_tab,
    open_view,
    plot_flaws,
    select_model,
    table_flaws,
    wait_new_image,
)
from pictures.digitize import load_digit
from tests.e2e.test_browser import eventually, shown
from vae.loaded import LoadedModel, default_model, load_models
from vae.render import grid_image
from webapp import compute
from webapp.views import every_class, reconstruct

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


PROJECTOR = {"width": 1024, "height": 768}
EXAMPLE = "digit-3-2-test0030.png"
# Every pixel of a canvas as grey levels, row by row, with its size.
GRID_PIXELS = """sel => { const c = document.querySelector(sel + ' canvas.vae-digit');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = [];
  for (let i = 0; i < d.length; i += 4) out.push(d[i]);
  return [c.height, c.width, out]; }"""


@pytest.fixture(scope="module")
def models() -> dict[str, LoadedModel]:
    """The shipped models, as the server loads them."""
    return load_models(ROOT / "weights")[0]


@pytest.fixture
def projector(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """The page on a 1024x768 projector."""
    pg, errors = open_app(browser, app_url)
    pg.set_viewport_size(PROJECTOR)
    yield pg
    pg.close()
    assert not errors, errors


def box(page: "Page", selector: str) -> dict:
    """The bounding box of the first element matching `selector` (it must be rendered)."""
    found = page.locator(selector).first.bounding_box()
    assert found, f"{selector} is not rendered"
    return found


def wholly_in_view(page: "Page", selector: str) -> bool:
    """Whether the element lies wholly inside the viewport."""
    b, view = box(page, selector), page.viewport_size
    return b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= view["width"] + 0.5 \
        and b["y"] + b["height"] <= view["height"] + 0.5


def side_by_side(left: dict, right: dict) -> bool:
    """Whether `right` lies to the right of `left`, and the two share some height."""
    return right["x"] >= left["x"] + left["width"] - 1 and right["y"] < left["y"] + left["height"] \
        and left["y"] < right["y"] + right["height"]


def slider_values(page: "Page") -> list[float]:
    """The shown latent sliders' values."""
    return page.evaluate("() => [...document.querySelectorAll(\"[id^='z-'] input[type=number]\")]"
                         ".map(r => Number(r.value))")


# ---- 4. the traversal: labelled, beside the decoded digit ----

@pytest.mark.parametrize("size", [{"width": 1280, "height": 900}, PROJECTOR])
def test_traversal_is_labelled_and_beside_the_decoded_digit(page: "Page", size: dict) -> None:
    """As a visitor finds it once "How a VAE works" is closed (a returning visitor's page opens so)."""
    page.set_viewport_size(size)
    page.locator("#overview .label-wrap").click()
    page.locator("#ov-diagram").wait_for(state="hidden")
    page.wait_for_function("() => { const i = document.querySelector('#traversal img');"
                           " return !!i && i.complete && i.naturalWidth > 0; }", timeout=30_000)
    traversal, decoded = box(page, "#traversal img"), box(page, "#decoded canvas")
    assert side_by_side(decoded, traversal)
    assert traversal["y"] < size["height"] * 0.75  # it starts on the first screen, not below the fold
    img = page.locator("#traversal img")
    grid_width = (7 * 30 + 2) * 2  # vae.render.make_grid's 7 columns at scale 2, without labels
    assert img.evaluate("i => i.naturalWidth") > grid_width + 20  # room for the row labels
    assert "each row is one latent dimension" in img.get_attribute("alt")


# ---- 5. start from a digit: the pick shows, the click is enough, the result is in view ----

@pytest.mark.parametrize("device", ["page", "phone"])
def test_a_picked_example_shows_and_sets_the_sliders_in_view(request: pytest.FixtureRequest, device: str,
                                                             models: dict[str, LoadedModel]) -> None:
    pg = request.getfixturevalue(device)
    loaded = models[default_model(models)]
    accordion = pg.get_by_text("Start from a digit", exact=True)
    accordion.tap() if device == "phone" else accordion.click()
    choose_example(pg, "#start-from-digit", EXAMPLE)
    preview = pg.locator("#start-from-digit .vae-preview img")
    preview.wait_for()
    pg.wait_for_function("() => document.querySelector('#start-from-digit .vae-preview img')?.naturalWidth > 0")
    assert preview.get_attribute("alt") == "The picture in Digit to edit"
    assert pg.get_by_role("button", name="Set the sliders to this digit's code").count() == 0  # the click did it
    x = load_digit(ROOT / "examples" / EXAMPLE, loaded.box_side)
    want = compute.sliders_from_code(compute.encode(loaded, x), loaded.ranking)
    pg.wait_for_function("want => { const v = [...document.querySelectorAll(\"[id^='z-'] input[type=number]\")]"
                         ".map(r => Number(r.value)); return v.length && v.every((x, i) => x === want[i]); }",
                         arg=want, timeout=30_000)
    pg.wait_for_timeout(300)  # the page's repaint and any scrolling
    assert wholly_in_view(pg, "#decoded canvas")


# The shown example thumbnails under `sel`, as rows: each thumbnail's side in px, row by row.
EXAMPLE_ROWS = """sel => { const rows = new Map();
  for (const item of document.querySelectorAll(sel + ' .vae-examples .gallery-item')) {
    const r = item.getBoundingClientRect(), top = Math.round(r.top);
    if (r.width) rows.set(top, [...(rows.get(top) || []), Math.round(r.width)]);
  }
  return [...rows.keys()].sort((a, b) => a - b).map(top => rows.get(top)); }"""


@pytest.mark.parametrize("screen", [{"viewport": {"width": 1280, "height": 900}}, {"viewport": PROJECTOR}, PHONE],
                         ids=["desktop", "projector", "phone"])
def test_the_examples_come_in_full_rows_of_thumbnails_a_finger_can_hit(browser: "Browser", app_url: str,
                                                                       screen: dict) -> None:
    """The twenty examples, the overview's and a view's: at most four rows, each full but the last (at least half
    full), each thumbnail 40 px or more. A projector showed the overview's as 19 and a lone 9; a phone showed a
    view's in seven rows of three, 600 px to scroll past before its answer."""
    page, errors = open_app(browser, app_url, screen=screen)
    try:
        open_view(page, "Reconstruct", touch="is_mobile" in screen)
        for scope in ("#overview", "#tab-reconstruct"):
            rows = page.evaluate(EXAMPLE_ROWS, scope)
            assert sum(map(len, rows)) == 20 and len(rows) <= 4, (scope, rows)
            assert all(len(row) == len(rows[0]) for row in rows[:-1]) and 2 * len(rows[-1]) >= len(rows[0]), \
                (scope, rows)
            assert min(min(row) for row in rows) >= 40, (scope, rows)
        assert errors == []
    finally:
        page.close()


def test_in_a_view_s_full_width_the_examples_are_thumbnails_not_white_tiles(page: "Page") -> None:
    """Every class puts its examples across the whole view: their tiles grew to 118 px around Gradio's 80-px
    pictures, white margins that read as empty boxes. Each picture now fills its tile."""
    select_model(page, "cmlp-20d")
    open_view(page, "Every class")
    tiles = "[...document.querySelectorAll('#tab-every .vae-examples .gallery-item')]"
    page.wait_for_function(f"() => {tiles}.length === 20 && {tiles}.every(t => t.querySelector('img')?.naturalWidth"
                           " && t.getBoundingClientRect().width)")
    sizes = page.evaluate(f"() => {tiles}.map(t => [t.getBoundingClientRect().width,"
                          " t.querySelector('img').getBoundingClientRect().width])")
    assert len(sizes) == 20 and all(img >= tile - 4 for tile, img in sizes), sizes


def test_interpolate_shows_each_picked_end(page: "Page") -> None:
    open_interpolate(page)
    for end, name in (("#interp-from", "digit-3-1-test0018.png"), ("#interp-to", "digit-8-1-test0061.png")):
        opening = image_src(page, f"{end} .vae-preview", wait=True)  # the example the view opened on
        choose_example(page, end, name)
        wait_new_image(page, f"{end} .vae-preview", opening)
        assert page.locator(f"{end} .file-preview").bounding_box()["y"] == pytest.approx(
            page.locator(f"{end} .vae-preview img").bounding_box()["y"], abs=80)  # beside the file's name


# What of a block's pictures (as drawn: an image's own box may be wider) and sliders lies under its label or its
# buttons, which Gradio lays over the block.
UNDER_LABELS = """block => { const out = [];
  const drawn = el => { const r = el.getBoundingClientRect();
    if (el.tagName !== 'IMG' || !el.naturalWidth) return r;
    const k = Math.min(r.width / el.naturalWidth, r.height / el.naturalHeight);
    const w = el.naturalWidth * k, h = el.naturalHeight * k;
    const left = r.left + (r.width - w) / 2, top = r.top + (r.height - h) / 2;
    return {left, top, right: left + w, bottom: top + h}; };
  for (const lab of block.querySelectorAll('[data-testid=block-label], .icon-button-wrapper')) {
    const l = lab.getBoundingClientRect();
    if (!lab.getClientRects().length || !(lab.textContent.trim() || lab.querySelector('button'))) continue;
    for (const el of block.querySelectorAll('img, canvas, input[type=range]')) {
      if (!el.getClientRects().length) continue;
      const r = drawn(el);
      const w = Math.min(l.right, r.right) - Math.max(l.left, r.left);
      const h = Math.min(l.bottom, r.bottom) - Math.max(l.top, r.top);
      if (w > 0 && h > 0) out.push(`${el.tagName} under "${lab.textContent.trim() || 'buttons'}"`);
    } }
  return out; }"""


# A block's labels (and a gallery's captions) that do not read whole: their text cut, or lying under the block's
# buttons.
CUT_LABELS = """block => { const out = [];
  const buttons = [...block.querySelectorAll('.icon-button-wrapper')].filter(b => b.getClientRects().length
    && b.querySelector('button')).map(b => b.getBoundingClientRect());
  for (const lab of block.querySelectorAll('[data-testid=block-label], .caption-label')) {
    const name = lab.textContent.trim(), l = lab.getBoundingClientRect();
    if (!lab.getClientRects().length || !name) continue;
    if ([lab, ...lab.querySelectorAll('*')].some(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1))
      out.push(`"${name}" cut`);
    if (buttons.some(b => Math.min(l.right, b.right) - Math.max(l.left, b.left) > 1
                          && Math.min(l.bottom, b.bottom) - Math.max(l.top, b.top) > 1))
      out.push(`"${name}" under buttons`);
  }
  return out; }"""


# A view, and what shows its pictures once it is open (with no click in it).
PICTURED_VIEWS = {"Latent sliders": "#decoded canvas.vae-digit", "Random samples": "#samples-grid canvas.vae-digit",
                  "Reconstruct": "#recon img", "Interpolate": "#interp-strip img",
                  "Posterior collapse & beta": "#compare-grids img", "Compress": "#binary img",
                  "Code map": "#code-map-neighbours img", "Why a VAE?": "#why-draws-vae img"}


@pytest.mark.parametrize("screen", [{"viewport": {"width": 1280, "height": 900}}, {"viewport": PROJECTOR}, PHONE],
                         ids=["desktop", "projector", "phone"])
def test_no_picture_lies_under_a_label_and_every_label_reads_whole(browser: "Browser", app_url: str,
                                                                   screen: dict) -> None:
    """Gradio lays a block's label and an image's buttons over the block's top: they hid the first row of the samples
    and of Why a VAE?'s grids, a map's legend, and the ends of the interpolation strip (short enough to vanish). On a
    phone the buttons covered long labels' ends, and the nearest digits' captions were cut to "#1042: 2.…"."""
    page, errors = open_app(browser, app_url, screen=screen)
    try:
        for view, shown in PICTURED_VIEWS.items():
            open_view(page, view, touch="is_mobile" in screen)
            switch = page.locator("#views > .tabitem:visible .vae-needs .vae-go")
            if switch.count() and switch.first.is_visible():  # the view needs another model (Compress: one layer)
                switch.first.tap() if "is_mobile" in screen else switch.first.click()
                switch.first.wait_for(state="hidden", timeout=30_000)  # the notice goes: the blocks are the view's
            page.locator(shown).first.wait_for(state="attached", timeout=30_000)  # a view's opening example's answer
            page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
            page.wait_for_function("() => [...document.images].every(i => !i.getClientRects().length || i.complete)",
                                   timeout=30_000)
            blocks = page.locator("#views > .tabitem:visible .block")
            hidden = [f"{block.get_attribute('id') or 'block'}: {covered}" for block in blocks.all()
                      for covered in block.evaluate(UNDER_LABELS)]
            assert hidden == [], view
            assert [flaw for block in blocks.all() for flaw in block.evaluate(CUT_LABELS)] == [], view
        assert errors == []
    finally:
        page.close()


# ---- 6. random samples follow the temperature in the page ----

def shown_grid(page: "Page") -> np.ndarray:
    """The samples grid the page drew, as grey levels."""
    h, w, pixels = page.evaluate(GRID_PIXELS, "#samples-grid")
    return np.array(pixels, np.int64).reshape(h, w)


def torch_grid(loaded: LoadedModel, n: int, temperature: float, seed: int) -> np.ndarray:
    """What /samples draws (before its 3x enlargement), as grey levels."""
    probs = compute.random_samples(loaded, n, temperature, seed)
    return np.asarray(grid_image(probs, nrow=min(n, 8)), np.int64)


def test_samples_redraw_as_the_temperature_moves(page: "Page", models: dict[str, LoadedModel]) -> None:
    loaded = models[default_model(models)]
    open_tab(page, "Random samples")
    page.wait_for_function("() => document.querySelector('#samples-grid canvas')?.height > 28", timeout=30_000)
    assert np.abs(shown_grid(page) - torch_grid(loaded, 32, 1.0, 0)).max() <= 1
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/gradio_api/" in r.url else None)
    page.locator("#samples-temperature input[type=range]").fill("0.5")
    assert np.abs(shown_grid(page) - torch_grid(loaded, 32, 0.5, 0)).max() <= 1
    assert requests == []  # the page decoded the grid itself
    page.get_by_role("button", name="New samples", exact=True).click()  # the next seed: new draws from the server
    want = torch_grid(loaded, 32, 0.5, 1)
    page.wait_for_function(f"""() => {{ const c = document.querySelector('#samples-grid canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, w = {want.ravel().tolist()};
        for (let i = 0; i < w.length; i++) if (Math.abs(d[4 * i] - w[i]) > 1) return false;
        return true; }}""", timeout=15_000)


# ---- 7. a phone: every view reachable from every view; Reconstruct side by side and in view ----

def view_names(page: "Page") -> list[str]:
    """Every view's name: the tabs on screen, then those in the "..." menu."""
    tabs = page.locator("#views > .tab-wrapper [role=tablist]").get_by_role("tab")
    names = [t.strip() for t in tabs.all_inner_texts()]
    more = page.get_by_role("button", name="More tabs")
    if more.count() and more.first.is_visible():
        more.first.tap()
        names += [t.strip() for t in page.locator(".overflow-dropdown button").all_inner_texts()]
        more.first.tap()
    return names


AT_POINT = "([x, y]) => document.elementFromPoint(x, y)?.closest('button')?.textContent.trim()"


def overflowed(page: "Page", name: str) -> bool:
    """Whether the view's tab is not on screen (Gradio has moved it into the "..." menu)."""
    tab = page.get_by_role("tab", name=name, exact=True)
    return not (tab.count() and tab.first.is_visible())


def test_every_view_is_reachable_from_every_view_on_a_phone(phone: "Page") -> None:
    """With the 2-D model (the most views) some tabs overflow into the "..." menu: from every view, the menu opens
    on top of everything (the pinned digit panel too), so a tap on an item lands on that item."""
    select_model(phone, "mlp-2d")
    open_view(phone, "Latent map", touch=True)  # once the model's views are there
    views = view_names(phone)
    assert {"Latent sliders", "Latent map", "Interpolate", "Posterior collapse & beta"} <= set(views), views
    for here in views:
        open_view(phone, here, touch=True)
        hidden = [name for name in views if overflowed(phone, name)]
        if not hidden:
            continue
        phone.get_by_role("button", name="More tabs").first.tap()
        for name in hidden:
            b = phone.locator(".overflow-dropdown button", has_text=name).first.bounding_box()
            assert phone.evaluate(AT_POINT, [b["x"] + b["width"] / 2, b["y"] + b["height"] / 2]) == name, here
        phone.get_by_role("button", name="More tabs").first.tap()  # closes the menu
    open_view(phone, views[0], touch=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_reconstruct_opens_on_an_example_and_stays_at_its_top_on_a_phone(phone: "Page",
                                                                       models: dict[str, LoadedModel]) -> None:
    """A first look at Reconstruct reads an example with no tap: what the model sees is that example, scored. The
    view stays at its intro and input: the opening answer does not scroll down to the pictures, as a visitor's own
    pick does."""
    open_on_example(phone, "Reconstruct", touch=True)
    loaded = models[default_model(models)]
    example = load_digit(ROOT / "examples" / reconstruct.OPENING[loaded.dataset], loaded.box_side).numpy()
    eventually(lambda: np.testing.assert_allclose(shown(phone, "#seen"), example, atol=1 / 255 + 1e-9))
    phone.wait_for_function(SCORE_SHOWN)
    phone.wait_for_timeout(500)  # a scroll the answer would bring
    assert wholly_in_view(phone, "#recon-intro")
    assert not wholly_in_view(phone, "#recon-pictures")  # they are further down: the page did not move to them
    # The file's name reads: its start (cut with an ellipsis) and its whole extension, not ".pr" in 26 px.
    name, stem, ext = (box(phone, f"#tab-reconstruct td.filename{part}") for part in ("", " .stem", " .ext"))
    assert stem["width"] >= 40 and ext["x"] + ext["width"] <= name["x"] + name["width"]


@pytest.mark.parametrize(("view", "model", "top", "read_as"), [
    ("Compress", "conv-32d", "#compress-intro", ("#compress-sizes", "Your digit in")),
    ("Every class", "cmlp-20d", "#every-intro", ("#tab-every", "Read as 2"))])
def test_a_view_opens_on_its_example_and_stays_at_its_top_on_a_phone(phone: "Page", view: str, model: str, top: str,
                                                                     read_as: tuple[str, str]) -> None:
    """Compress and Every class, first looked at with a model they fit, answer an example with no tap (a 5
    compressed; a 2 drawn as every class) and stay at their top: only a visitor's own digit brings the
    answer up."""
    select_model(phone, model)
    open_on_example(phone, view, touch=True)
    phone.locator(read_as[0]).get_by_text(read_as[1]).first.wait_for(timeout=30_000)
    phone.wait_for_timeout(500)  # a scroll the answer would bring
    assert wholly_in_view(phone, top)


def test_every_class_shows_each_decoding_large_enough_to_read_on_a_phone(phone: "Page") -> None:
    """Ten decodings in one row came out 31 px each on a phone; in rows of five they are twice that."""
    select_model(phone, "cmlp-20d")
    open_on_example(phone, "Every class", touch=True)
    picture = image_src(phone, "#every-row", wait=True) and box(phone, "#every-row img")
    side = picture["width"] / every_class.COLUMNS  # each decoding's share of the width (its 2-px border included)
    assert side >= 60 and picture["height"] == pytest.approx(2 * side, rel=0.05), picture


def test_reconstruct_pictures_side_by_side_and_in_view_on_a_phone(phone: "Page") -> None:
    open_on_example(phone, "Reconstruct", touch=True)
    choose_example(phone, "#tab-reconstruct", EXAMPLE)
    phone.wait_for_function("() => document.querySelector('#recon img')?.naturalWidth > 0", timeout=30_000)
    phone.wait_for_timeout(300)
    where, seen, recon = (box(phone, f"#{k} img") for k in ("where", "seen", "recon"))
    assert side_by_side(where, seen) and side_by_side(seen, recon)
    assert recon["x"] + recon["width"] <= 390
    assert wholly_in_view(phone, "#recon img") and wholly_in_view(phone, "#where img")


def test_the_elbos_plots_read_on_a_phone(phone: "Page") -> None:
    """Under a reconstruction, each plot's ticks and legend lie inside it and apart: the posterior's legend named
    all three series within the screen (not "prior N(0, 1): +- 1 sd" cut at its edge), the scores' axis read
    "0 50 100 150 200" (not "160180")."""
    open_on_example(phone, "Reconstruct", touch=True)
    phone.wait_for_function("() => document.querySelectorAll('#anatomy .vega-embed svg text').length > 40",
                            timeout=30_000)
    phone.wait_for_timeout(500)  # the plots lay out their labels
    assert plot_flaws(phone, "#anatomy") == []
    legend = phone.locator("#posterior-plot svg text").evaluate_all("ts => ts.map(t => t.textContent)")
    assert {"mean", "mean ± 1 sd", "prior ± 1 sd"} <= set(legend)


# ---- 8. a projector: the map and a large decoded point side by side, on one screen ----

def test_the_map_and_a_large_decoded_point_fit_a_projector(projector: "Page") -> None:
    select_model(projector, "mlp-2d")
    open_latent_map(projector)
    projector.locator("#map-view").evaluate("e => e.scrollIntoView({block: 'start'})")
    the_map, point = box(projector, "#map-view canvas.vae-map"), box(projector, "#map-view canvas.vae-digit")
    assert side_by_side(the_map, point)
    assert point["width"] >= 224 and the_map["width"] >= 400  # a digit readable from the back of a room
    assert wholly_in_view(projector, "#map-view canvas.vae-map")
    assert wholly_in_view(projector, "#map-view canvas.vae-digit")


def test_both_maps_name_their_classes_in_readable_text_on_a_phone(phone: "Page",
                                                                  models: dict[str, LoadedModel]) -> None:
    """The legend is text under the map, not canvas pixels scaled down to a phone's width."""
    for model, view, scope in (("mlp-2d", "Latent map", "#map-view"), ("conv-32d", "Code map", "#code-map-view")):
        select_model(phone, model)
        open_view(phone, view, touch=True)
        items = phone.locator(f"{scope} .vae-legend li")
        items.first.wait_for(timeout=60_000)
        assert items.all_inner_texts() == list(models[model].class_names)
        size = phone.wait_for_function(  # the legend's first entry as drawn, once any redraw of the legend is done
            "sel => { const e = document.querySelector(sel + ' .vae-legend li');"
            " const s = e && parseFloat(getComputedStyle(e).fontSize); return s > 0 ? s : null; }",
            arg=scope).json_value()
        assert size >= 12, f"{view}'s legend is {size} px"
        assert box(phone, f"{scope} .vae-legend")["width"] <= 390


# Records, for each text the page draws on the latent map's canvas, its font size in CSS pixels as shown.
RECORD_MAP_TEXT = """(() => {
  window.__mapText = {};
  const fill = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    const c = this.canvas;
    if (c.classList.contains('vae-map') && c.clientWidth)
      window.__mapText[text] = parseFloat(this.font) * c.clientWidth / c.width;
    return fill.call(this, text, ...rest);
  };
})()"""


def test_the_table_and_the_three_traversal_grids_read_on_a_phone(phone: "Page") -> None:
    """Posterior collapse's table wraps between words ("dimensions", not "dimensi" and "ons") and fits, its plot's
    labels lie apart, and its grids lie one under another as wide as the screen, their captions whole (not three
    100 px thumbnails whose captions were cut)."""
    open_view(phone, "Posterior collapse & beta", touch=True)
    phone.locator("#compare-table table").wait_for(timeout=30_000)
    assert table_flaws(phone, "#compare-table") == []
    phone.locator("#compare-kl svg text").first.wait_for(timeout=30_000)
    assert plot_flaws(phone, "#compare-kl") == []
    grids = phone.locator("#compare-grids img")
    phone.wait_for_function("() => document.querySelectorAll('#compare-grids img').length === 3", timeout=30_000)
    boxes = [grids.nth(i).bounding_box() for i in range(3)]
    assert all(b["width"] >= 280 for b in boxes), boxes
    assert all(below["y"] >= above["y"] + above["height"] for above, below in pairwise(boxes)), boxes
    captions = phone.locator("#compare-grids .caption-label")
    assert captions.evaluate_all("cs => cs.map(c => c.scrollWidth <= c.clientWidth)") == [True] * 3
    assert "mlp-20d-beta16: 4 of 20 active" in captions.all_inner_texts()


def test_the_kl_plot_counts_dimensions_in_whole_numbers(page: "Page") -> None:
    """Posterior collapse's plot on a desktop labelled its dimensions "0.0 1.0 2.0 ...": a rank reads "3", not "3.0"."""
    open_view(page, "Posterior collapse & beta")
    ticks = page.locator("#compare-kl g.role-axis[aria-label^='X-axis'] text")
    ticks.first.wait_for(timeout=30_000)
    shown = ticks.evaluate_all("ts => ts.filter(t => getComputedStyle(t).opacity !== '0').map(t => t.textContent)")
    assert shown[-1] == "dimension, largest KL first" and all(t.isdigit() for t in shown[:-1]), shown


def test_the_latent_map_reads_on_a_phone(browser: "Browser", app_url: str) -> None:
    """The canvas is 480 pixels shown in about 330 on a phone: its axis labels are drawn larger to read at 12. The
    manifold below is as wide as the screen, square, under its label, with no screen of empty space around it."""
    phone = browser.new_page(**PHONE)
    phone.add_init_script(RECORD_MAP_TEXT)
    phone.goto(app_url)
    phone.wait_for_function("() => window.vaeStats?.paints > 0 && window.vaeStats.answers > 0", timeout=60_000)
    select_model(phone, "mlp-2d")
    open_view(phone, "Latent map", touch=True)
    phone.wait_for_function("() => window.__mapText && window.__mapText['z1 →']", timeout=60_000)
    shown = phone.evaluate("() => window.__mapText")
    assert phone.locator("#map-view canvas.vae-map").evaluate("c => c.clientWidth < c.width")  # shown smaller
    for text in ("z1 →", "z2 ↑", "-3", "3"):
        assert shown[text] == pytest.approx(12, abs=0.5), text
    phone.locator("#manifold img").scroll_into_view_if_needed(timeout=30_000)
    wait_new_image(phone, "#manifold", "", timeout=30_000)  # loaded: its box is the picture's
    block, picture, label = (phone.locator(s).bounding_box() for s in ("#manifold", "#manifold img",
                                                                        "#manifold [data-testid=block-label]"))
    assert picture["width"] == pytest.approx(picture["height"], abs=2) and picture["width"] > 300
    assert label["y"] + label["height"] <= picture["y"] and block["height"] < picture["height"] + 60
    phone.close()


# Parts of the page made for API clients and the page's script (visible="hidden") that show on screen.
SHOWN_HIDDEN_PARTS = """() => window.gradio_config.components
  .filter(c => c.props && c.props.visible === 'hidden' && c.props.elem_id)
  .map(c => document.getElementById(c.props.elem_id))
  .filter(e => e && (e.offsetWidth || e.offsetHeight || e.getClientRects().length)).map(e => e.id)"""


def test_no_part_kept_for_the_api_shows_in_any_view(page: "Page") -> None:
    """Hidden buttons and pictures (such as "Decode on the server") stay hidden in every view, whichever model is
    chosen: once a model switch showed the latent map's, under its map."""
    for model in ("mlp-2d", "cmlp-20d", "conv-32d", "mlp-2d"):  # each view that needs some model, shown and not
        select_model(page, model)
        for view in page.get_by_role("tab").all_inner_texts():
            open_tab(page, view)
            page.wait_for_timeout(300)  # a view's answers land
            assert page.evaluate(SHOWN_HIDDEN_PARTS) == [], f"{view}, {model}"


# Links shown with padding on their sides (Gradio pads an HTML block's links as buttons), other than buttons.
PADDED_LINKS = """() => [...document.querySelectorAll('a:not(.vae-go)')]
  .filter(a => a.offsetParent && parseFloat(getComputedStyle(a).paddingLeft) > 0).map(a => a.textContent.trim())"""


def test_links_in_a_sentence_read_as_words(page: "Page") -> None:
    """A glossary link inside a sentence ("+ KL 28.3 nats") has no gap around it, in every view."""
    page.locator(".vae-ov-loss a").first.wait_for()
    for view in page.get_by_role("tab").all_inner_texts():
        open_tab(page, view)
        page.wait_for_timeout(300)
        assert page.evaluate(PADDED_LINKS) == [], view


# ---- 9. an empty action: one warning, naming the empty input ----

def test_an_empty_interpolation_is_one_warning_naming_the_inputs(page: "Page") -> None:
    """Both ends cleared, and the view left and opened again (it does not refill them): Interpolate warns once."""
    open_interpolate(page)
    for end in ("#interp-from", "#interp-to"):
        page.locator(f"{end} button[aria-label=Clear]").click()
        page.locator(f"{end} .file-preview").wait_for(state="detached")
    open_tab(page, "Random samples")
    open_tab(page, "Interpolate")
    page.wait_for_timeout(1000)  # a refill would have come by now
    assert page.locator("#interp-from .file-preview, #interp-to .file-preview").count() == 0
    toast = page.locator(".toast-body")
    page.get_by_role("button", name="Interpolate", exact=True).click()
    toast.first.wait_for()
    page.wait_for_timeout(1500)  # any later toast
    assert toast.count() == 1 and "warning" in toast.get_attribute("class")
    assert "From and To" in toast.inner_text()
    page.locator(".toast-close").first.click()
    choose_example(page, "#interp-from", "digit-3-1-test0018.png")
    page.get_by_role("button", name="Interpolate", exact=True).click()
    toast.first.wait_for()
    page.wait_for_timeout(1500)
    assert toast.count() == 1
    assert "in To:" in toast.inner_text() and "From" not in toast.inner_text()


def test_samples_come_from_the_server_when_the_page_cannot_decode(browser: "Browser", app_url: str,
                                                                  models: dict[str, LoadedModel]) -> None:
    """Without the weights (blocked), the grid is the server's /samples picture, and it follows the temperature."""
    context = browser.new_context()
    context.route("**/*.safetensors", lambda route: route.abort())
    pg = context.new_page()
    pg.goto(app_url)
    pg.locator("#decoded .vae-status").filter(has_text="server").wait_for()
    open_tab(pg, "Random samples")
    pg.locator("#samples-temperature input[type=range]").fill("0.5")
    want = torch_grid(models[default_model(models)], 32, 0.5, 0)

    def shows_the_server_grid() -> bool:
        h, w, pixels = pg.evaluate(GRID_PIXELS, "#samples-grid")
        return (h, w) == want.shape and np.abs(np.array(pixels).reshape(h, w) - want).max() <= 1

    deadline = time.monotonic() + 30
    while not shows_the_server_grid():
        assert time.monotonic() < deadline, "the server's grid never showed"
        pg.wait_for_timeout(200)
    context.close()


def fonts_drawing(page: "Page", selector: str) -> dict[str, set[str]]:
    """For each element matching `selector` (its HTML's start): the fonts Chromium draws its text in, each marked web
    font or system font (the DevTools protocol's CSS.getPlatformFontsForNode)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    drawn: dict[str, set[str]] = {}
    for node in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": selector})["nodeIds"]:
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        text = cdp.send("DOM.getOuterHTML", {"nodeId": node})["outerHTML"][:80]
        drawn.setdefault(text, set()).update(f"{f['postScriptName']} ({'web' if f['isCustomFont'] else 'system'})"
                                             for f in fonts)
    cdp.detach()
    return drawn


def test_bold_words_are_drawn_in_the_pages_own_fonts(page: "Page") -> None:
    """Headings and bold words, in prose and in code, are drawn whole in the page's web fonts. Gradio's SemiBold font
    files hold only a few letters: a bold "VAE" was drawn in two fonts, its A smaller than its V and E."""
    open_view(page, "Posterior collapse & beta")  # its table heads models' names in bold code
    page.locator("#compare-table code").first.wait_for(timeout=30_000)
    drawn = fonts_drawing(page, "h1, h2, h3, strong, b, th code, #compare-table code")
    assert any("<h1>" in text for text in drawn) and any("<code>" in text for text in drawn)
    assert all(font.endswith("(web)") for fonts in drawn.values() for font in fonts), \
        {text: fonts for text, fonts in drawn.items() if any(font.endswith("(system)") for font in fonts)}
