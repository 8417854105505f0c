"""End to end, in headless Chromium: the page's way in (issue 27, points 1, 2, 3 and 11). "How a VAE works" on a
real digit, with "New ε" decoded in the page; the guided start on a desktop, a projector and a phone; the glossary
reached from a term; a view that needs another model; and a shared address that opens the same point.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from benchmarks.harness import (
    PHONE,
    PROJECTOR,
    VIEWPORT,
    canvas_pixels,
    example_thumbnail,
    open_tab,
    open_view,
    select_model,
    set_slider,
    settle,
    wait_in_sight,
    wait_new_pixels,
)
from tests.e2e.conftest import NEEDS_CHROMIUM, app_page
from tests.e2e.test_browser import grey
from tests.helpers import WEIGHTS
from vae.loaded import LoadedModel, default_model, load_models
from vae.loss import reconstruction_nll
from vae.posterior import Draw, decode_draw
from webapp import compute
from webapp.digit_input import EXAMPLES, read_digit
from webapp.views.overview import first_example

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = NEEDS_CHROMIUM

SCREENS = {"desktop": {"viewport": VIEWPORT}, "projector": PROJECTOR, "phone": PHONE}
DRAWN = "() => (window.vaeStats?.overviewDraws || 0) > 0"
CURRENT = "() => window.vaePage.current()"


@pytest.fixture(scope="module")
def models() -> dict[str, LoadedModel]:
    return load_models(WEIGHTS)[0]


@contextmanager
def opened(browser: "Browser", url: str, screen: str = "desktop") -> Iterator["Page"]:
    """The app on `screen`, once "How a VAE works" has drawn its first digit; no console errors at the end."""
    with app_page(browser, url, screen=SCREENS[screen]) as page:
        page.wait_for_function(DRAWN, timeout=60_000)
        yield page


@pytest.fixture
def page(browser: "Browser", app_url: str) -> Iterator["Page"]:
    with opened(browser, app_url) as pg:
        yield pg


def decoded_code(page: "Page") -> tuple[torch.Tensor, torch.Tensor | None]:
    """The code z the overview decoded last, and the noise it drew a two-layer model's z1 with (None for one
    layer): static/overview.js writes both into the diagram."""
    row = page.locator(".vae-ov")
    z, eps1 = (torch.tensor([[float(v) for v in (row.get_attribute(f"data-{k}") or "").split(",") if v]])
               for k in ("z", "eps1"))
    return z, eps1 if eps1.numel() else None


def decoding(loaded: LoadedModel, x: torch.Tensor, z: torch.Tensor, eps1: torch.Tensor | None) -> Draw:
    """x' as the overview draws it for the digit x and its code z: decoded from z, or for a two-layer model from
    z1 = its posterior given x and z, moved by the noise eps1."""
    with torch.no_grad():
        h = loaded.model.encoder_state(x.view(1, 1, 28, 28)) if loaded.model.config.lower_dim else None
        return decode_draw(loaded.model, h, z, noise=eps1)


def test_the_overview_shows_the_digit_its_posterior_a_code_and_its_decoding(page: "Page",
                                                                            models: dict[str, LoadedModel]) -> None:
    """x is the example as the model sees it; x' is the decoding of z (via the lower layer u for two layers); the
    loss line's terms are those of x and that draw."""
    loaded = models[default_model(models)]
    x = read_digit(loaded, first_example(loaded.dataset), None)
    assert np.abs(np.array(canvas_pixels(page, "#ov-x")) - grey(x)).max() <= 1
    assert page.locator("#ov-x figcaption").inner_text() == "x: a test example; try yours"
    draw = decoding(loaded, x, *decoded_code(page))
    assert np.abs(np.array(canvas_pixels(page, "#ov-xr")) - grey(torch.sigmoid(draw.logits)[0])).max() <= 3
    q = compute.read(loaded, x)
    kl = float(0.5 * (q.mean**2 + q.logvar.exp() - 1 - q.logvar).sum())
    recon = float(reconstruction_nll(draw.logits.view(1, -1), x.view(1, -1)))
    assert float(page.locator("#ov-kl").inner_text()) == pytest.approx(kl, abs=0.06)
    assert float(page.locator("#ov-recon").inner_text()) == pytest.approx(recon, abs=0.5)
    if loaded.model.config.lower_dim:
        assert float(page.locator("#ov-kl-lower").inner_text()) == pytest.approx(float(draw.lower_kl.sum()), abs=0.06)
    for bars in ("#ov-q", "#ov-z"):  # drawn, not blank
        assert page.evaluate(f"""() => {{ const c = document.querySelector('{bars} canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return new Set(d).size; }}""") > 3


def test_new_epsilon_redraws_z_and_x_prime_without_a_request(page: "Page", models: dict[str, LoadedModel]) -> None:
    settle(page, quiet=1.5)  # the page's own loading (thumbnails, the first traversal) is over
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    before, old = decoded_code(page)[0], canvas_pixels(page, "#ov-xr")
    draws = page.evaluate("() => window.vaeStats.overviewDraws")
    page.get_by_role("button", name="New ε").click()
    page.wait_for_function(f"() => window.vaeStats.overviewDraws > {draws}")
    after = decoded_code(page)
    assert not torch.equal(before, after[0])
    assert wait_new_pixels(page, "#ov-xr", old) != old
    loaded = models[default_model(models)]
    draw = decoding(loaded, read_digit(loaded, first_example(loaded.dataset), None), *after)
    assert np.abs(np.array(canvas_pixels(page, "#ov-xr")) - grey(torch.sigmoid(draw.logits)[0])).max() <= 3
    assert requests == []


def test_the_overview_reads_the_example_clicked(page: "Page") -> None:
    old = canvas_pixels(page, "#ov-x")
    name = "digit-7-1-test0000.png"
    example_thumbnail(page, "#overview", name).click()
    pixels = wait_new_pixels(page, "#ov-x", old)
    x = read_digit(load_models(WEIGHTS)[0]["conv-32d"], next(p for p in EXAMPLES["mnist"] if p.endswith(name)), None)
    assert np.abs(np.array(pixels) - grey(x)).max() <= 1
    assert page.locator("#ov-x figcaption").inner_text() == "x: the picture the model sees"  # the visitor's pick


@pytest.mark.parametrize("screen", ["desktop", "projector"])
def test_the_diagram_reads_in_one_line_from_x_to_x_prime(browser: "Browser", app_url: str, screen: str) -> None:
    """x, encoder, the posterior, z, decoder, x' side by side: on a projector the decoder and x' had wrapped under
    the rest, as the digit's column beside the diagram left it 588 px."""
    with opened(browser, app_url, screen) as page:
        boxes = page.locator(".vae-ov > *").evaluate_all("parts => parts.map(p => p.getBoundingClientRect())"
                                                         ".map(r => [r.top, r.bottom])")
        assert len(boxes) == 7 and max(top for top, _ in boxes) < min(bottom for _, bottom in boxes), boxes


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_guided_start_opens_each_demo_in_sight(browser: "Browser", app_url: str, screen: str) -> None:
    """Each button chooses its model and view and brings the view into the viewport; with touch on the phone."""
    with opened(browser, app_url, screen) as page:
        assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
        assert page.get_by_role("button", name="New ε").is_visible()
        buttons = page.locator("#guided-start .vae-go")
        assert buttons.all_inner_texts() == ["Walk the 2-D latent map", "Draw a digit and see how the model reads it",
                                             "See posterior collapse"]
        rows = {}  # the buttons of one line stand level: Gradio's prose had put the last 2 px below the others
        for top, height in buttons.evaluate_all("bs => bs.map(b => [b.getBoundingClientRect().top, b.offsetHeight])"):
            rows.setdefault(round(top / height), set()).add(round(top, 1))
        assert all(len(tops) == 1 for tops in rows.values()), rows
        for i in range(buttons.count()):
            page.evaluate("window.scrollTo(0, 0)")
            button = buttons.nth(i)
            model, view = button.get_attribute("data-model"), button.get_attribute("data-view")
            if screen == "phone":
                button.tap()
            else:
                button.click()
            assert button.get_attribute("aria-busy") == "true"  # it shows it is working until the view is in sight
            page.wait_for_function(f"() => window.vaePage.current().model === '{model}'", timeout=30_000)
            page.wait_for_function(f"() => location.hash.includes('view={view[4:]}')")
            assert page.locator(f"#views > #{view}").is_visible()
            wait_in_sight(page, "#views > .tab-wrapper")
            page.wait_for_function("b => !b.hasAttribute('aria-busy')", arg=button.element_handle())
            if button.get_attribute("data-draw"):  # "Draw a digit" opened the drawing pad
                assert page.locator(f"#{view} canvas.vae-pad-canvas").first.is_visible()


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_guided_start_leads_to_all_the_views(browser: "Browser", app_url: str, screen: str) -> None:
    """While "How a VAE works" fills the first screen, its link brings the views' tab bar in sight (a tap on the
    phone), and the address keeps the page's state: it is no plain anchor."""
    with opened(browser, app_url, screen) as page:
        page.wait_for_function("() => location.hash.includes('model=')")
        address = page.evaluate("location.href")
        bar = page.locator("#views > .tab-wrapper")
        assert bar.bounding_box()["y"] > page.viewport_size["height"] - 40  # below the first screen
        link = page.get_by_role("link", name="or see all the views ↓")
        link.tap() if screen == "phone" else link.click()
        wait_in_sight(page, "#views > .tab-wrapper")
        assert page.evaluate("location.href") == address


BAR_TOP = "() => document.querySelector('#views > .tab-wrapper').getBoundingClientRect().top"


def test_a_view_that_grows_after_the_scroll_is_still_brought_to_the_top(page: "Page") -> None:
    """The guided start scrolls the view's tab bar to the top; a view whose pictures come later leaves the page too
    short for that at the first scroll (here the map's contents are held back by a style until then). The page
    scrolls again as it grows, so the map ends in sight."""
    held = page.add_style_tag(content="#tab-map > * { display: none !important; }")
    button = page.locator("#guided-start .vae-go", has_text="Walk the 2-D latent map")
    button.click()
    page.wait_for_function("() => window.vaePage.current().model === 'mlp-2d'", timeout=30_000)
    page.wait_for_function("b => !b.hasAttribute('aria-busy')", arg=button.element_handle())
    assert page.evaluate(BAR_TOP) > 100  # scrolled as far as the short page goes, the bar still far from the top
    held.evaluate("s => s.remove()")
    page.wait_for_function(f"() => Math.abs(({BAR_TOP})()) <= 2", timeout=5_000)
    assert page.locator("#map-view canvas.vae-map").bounding_box()["y"] < page.viewport_size["height"]


def test_a_term_opens_its_glossary_entry(page: "Page") -> None:
    page.wait_for_function("() => location.hash.includes('model=')")  # the page has written its state
    address = page.evaluate("location.href")
    page.locator("#model-info").get_by_role("link", name="NLL").click()
    entry = page.locator("#g-nll")
    entry.wait_for(state="visible")
    page.wait_for_function("() => { const r = document.querySelector('#g-nll').getBoundingClientRect();"
                           " return r.top >= 0 && r.bottom <= innerHeight; }")
    assert "Lower is better" in page.locator("#g-nll + dd").inner_text()
    assert page.evaluate("location.href") == address  # the address keeps the shared state


def test_the_sliders_say_which_dimensions_are_unused_and_link_to_collapse(page: "Page",
                                                                         models: dict[str, LoadedModel]) -> None:
    kl = models["conv-32d"].metadata.metrics.kl_per_dim
    assert "dimensions are unused" in page.locator("#unused-note").inner_text()
    page.get_by_text("More dimensions", exact=True).click()  # the unused ones are the last sliders
    page.get_by_text(f"KL {min(kl):.2f} nats: unused (collapsed)", exact=False).first.wait_for(state="visible")
    page.locator("#unused-note").get_by_role("link", name="collapsed").click()
    page.locator("#views > #tab-compare").wait_for(state="visible")


@pytest.mark.parametrize(("start", "view", "tab", "needs", "target", "content"), [
    ("conv-32d", "Latent map", "tab-map", "a model with a 2-D code", "mlp-2d", "#map-view"),
    ("mlp-20d", "Compress", "tab-compress", "a model trained on black-and-white digits", "conv-32d",
     "#binary")])
def test_a_view_that_needs_another_model_offers_the_switch(page: "Page", start: str, view: str, tab: str, needs: str,
                                                           target: str, content: str) -> None:
    select_model(page, start)
    open_view(page, view)
    notice = page.locator(f"#{tab} .block.vae-needs")
    notice.wait_for(state="visible")
    assert f"needs {needs}" in notice.inner_text()
    assert not page.locator(content).is_visible()
    notice.get_by_role("button", name=f"Switch to {target}").click()
    page.wait_for_function(f"() => window.vaePage.current().model === '{target}'", timeout=30_000)
    page.locator(content).wait_for(state="visible", timeout=60_000)  # after the model's view is drawn
    assert not notice.is_visible()


def test_a_shared_address_opens_the_same_model_view_and_point(browser: "Browser", app_url: str,
                                                              models: dict[str, LoadedModel]) -> None:
    z = [1.5, -1.0, 0.0, 0.5]
    with opened(browser, f"{app_url}#model=mlp-20d&view=samples&z={','.join(map(str, z))}") as page:
        page.wait_for_function("() => window.vaePage.current().model === 'mlp-20d' && "
                               "window.vaePage.current().z[0] === 1.5", timeout=30_000)
        assert page.evaluate(CURRENT)["z"] == z + [0.0] * 16
        assert page.locator("#views > #tab-samples").is_visible()
        assert "mlp-20d" in page.get_by_role("combobox", name="Model", exact=True).input_value()
        ranking = models["mlp-20d"].ranking
        sliders = page.locator("input[type=range][aria-label^='range slider for']")
        assert [float(sliders.nth(i).input_value()) for i in range(4)] == [z[d] if d < 4 else 0.0 for d in ranking[:4]]
        # A move of a slider, and the address follows: a link to the new point.
        open_tab(page, "Latent sliders")
        set_slider(page, 0, -2.0)
        expected = list(z) + [0.0] * 16
        expected[ranking[0]] = -2.0
        while expected[-1] == 0.0:
            expected.pop()
        shared = f"view=sliders&z={','.join(f'{v:g}' for v in expected)}"
        page.wait_for_function("s => location.hash.endsWith(s)", arg=shared)


def test_a_broken_shared_address_says_why_and_the_page_goes_on(browser: "Browser", app_url: str) -> None:
    """A hand-edited code: one warning naming it; the model and view still open, and the address is the page's own
    again. The code's failure once left the page waiting for a drawing that never came: no word, and an address
    that no longer followed the sliders."""
    with opened(browser, f"{app_url}#model=mlp-20d&view=samples&z=1,two") as page:
        toast = page.locator(".toast-body")
        toast.first.wait_for(timeout=30_000)
        assert "warning" in toast.get_attribute("class") and "not '1,two'" in toast.inner_text()
        assert page.evaluate(CURRENT)["model"] == "mlp-20d"
        assert page.locator("#views > #tab-samples").is_visible()
        page.wait_for_function("() => location.hash.includes('view=samples') && !location.hash.includes('two')")


def test_a_shared_address_with_an_unknown_view_opens_the_rest(browser: "Browser", app_url: str) -> None:
    """A view this page does not have (a link from another version of it) is left out: the model and code still
    open, with no failed request (the server refused the view, and the code was never set)."""
    with opened(browser, f"{app_url}#model=mlp-20d&view=bogus&z=1.5") as page:
        page.wait_for_function("() => window.vaePage.current().model === 'mlp-20d' && "
                               "window.vaePage.current().z[0] === 1.5", timeout=30_000)
        page.wait_for_function("() => location.hash.includes('z=1.5') && !location.hash.includes('bogus')")


RUNS = """() => Object.keys(localStorage).flatMap(k => { try { const v = JSON.parse(localStorage.getItem(k));
  return Array.isArray(v) ? v : []; } catch { return []; } }).filter(r => r.api_name === '/traversal')"""


def test_the_run_history_names_each_slider_by_its_dimension(page: "Page", models: dict[str, LoadedModel]) -> None:
    """Gradio's run history (browser storage) records a traversal's sliders under the dimensions they move."""
    page.get_by_role("button", name="Random point", exact=True).click()
    page.wait_for_function(f"() => ({RUNS})().length > 0", timeout=30_000)
    run = page.evaluate(RUNS)[0]
    labels = [c["props"]["label"] for c in run["input_components"][2:]]
    ranking = models[default_model(models)].ranking
    assert labels[: len(ranking)] == [compute.dimension_name(d) for d in ranking]


def test_the_overview_is_open_on_the_first_visit_only(browser: "Browser", app_url: str) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    first = context.new_page()
    first.goto(app_url)
    first.wait_for_function(DRAWN, timeout=60_000)
    first.wait_for_function("() => localStorage.getItem('vae-overview-seen')")  # the page has seen the visit
    assert first.locator("#ov-diagram").is_visible()
    first.close()
    again = context.new_page()  # the same browser's storage
    again.goto(app_url)
    again.wait_for_function(DRAWN, timeout=60_000)  # the diagram is on the page
    again.locator("#ov-diagram").wait_for(state="hidden", timeout=60_000)  # closed once the page is ready
    assert again.locator("#ov-diagram").count() == 1
    again.close()
    context.close()
