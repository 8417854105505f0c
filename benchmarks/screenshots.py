"""Screenshots of each view of the app for the README, an interpolation GIF and a slider-drag GIF, written to docs/.

    python3 benchmarks/screenshots.py

The latent map, every-class and Fashion-MNIST shots use the shipped mlp-2d, cmlp-20d and
fashion-mlp-20d models. The phone shots show what a 390 x 844 touch screen shows (the viewport,
not the whole page). `--only phone` (or another set's name) retakes one set.
"""

import argparse
import io
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    CODE_MAP_READY,
    ROOT,
    SCORE_SHOWN,
    canvas_pixels,
    choose_example,
    chromium,
    click_and_wait,
    draw_digit,
    example_thumbnail,
    image_src,
    open_app,
    open_interpolate,
    open_latent_map,
    open_on_example,
    open_tab,
    point_at_a_dot,
    select_model,
    serve_app,
    set_slider,
    touch_drag,
    wait_new_image,
    wait_new_pixels,
)
from tests.pictures.photo_corpus import make  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

DOCS = ROOT / "docs"
DRAG_FRAMES = 40  # slider positions in the drag GIF, there and back
MAP_MODEL = "mlp-2d"
CODE_MAP_MODEL = "conv-32d"
COMPRESS_MODEL = "conv-32d"  # Compress codes with one-layer models, whichever model is the default
CONDITIONAL_MODEL = "cmlp-20d"
FASHION_MODEL = "fashion-mlp-20d"
SAMPLES_DRAWN = "() => document.querySelector('#samples-grid canvas')?.height > 28"  # the page drew the grid
PROJECTOR = {"width": 1024, "height": 768}
LEARN_FRAMES, LEARN_WIDTH = 40, 640  # the Watch it learn GIF: its first 40 updates (20 s of training), 640 px wide


# ---- the shots ----

def shoot(page: "Page", name: str, full_page: bool = True) -> Path:
    """A PNG of the page (or of what the screen shows) in docs/."""
    path = DOCS / f"{name}.png"
    page.wait_for_timeout(300)  # let transitions settle
    page.screenshot(path=path, full_page=full_page)
    print("wrote", path.relative_to(ROOT))
    return path


def shoot_views(page: "Page") -> None:
    """Sliders, samples, reconstruction and interpolation (with its GIF), on the default model."""
    for index, value in ((0, 2.0), (1, -1.5)):
        old = canvas_pixels(page, "#decoded")
        set_slider(page, index, value)
        wait_new_pixels(page, "#decoded", old)
    shoot(page, "latent-sliders")
    open_tab(page, "Random samples")
    page.wait_for_function(SAMPLES_DRAWN)
    shoot(page, "random-samples")
    open_on_example(page, "Reconstruct")
    choose_example(page, "#tab-reconstruct", "digit-2-1-test0001.png")
    click_and_wait(page, "Reconstruct", "#recon")
    page.wait_for_function(SCORE_SHOWN)
    shoot(page, "reconstruct")
    open_interpolate(page)
    choose_example(page, "#interp-from", "digit-3-1-test0018.png")
    choose_example(page, "#interp-to", "digit-8-1-test0061.png")
    gif = click_and_wait(page, "Interpolate", "#gif")
    (DOCS / "interpolation.gif").write_bytes(page.request.get(gif).body())
    print("wrote docs/interpolation.gif")
    shoot(page, "interpolate")


def shoot_part(page: "Page", selector: str, name: str) -> Path:
    """A PNG of one element of the page in docs/."""
    path = DOCS / f"{name}.png"
    page.wait_for_timeout(300)
    page.locator(selector).screenshot(path=path)
    print("wrote", path.relative_to(ROOT))
    return path


def drag_slider(page: "Page", index: int, to: float) -> None:
    """Drag the index-th latent slider with the mouse to `to` (0-1 of its width) and let go."""
    slider = page.locator("input[type=range][aria-label^='range slider for']").nth(index)
    slider.scroll_into_view_if_needed()  # the mouse reaches only what is in the window
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * to, y, steps=8)
    page.mouse.up()


def shoot_first_visit(page: "Page") -> None:
    """What a first visit sees: the guided start above "How a VAE works" (the screen), and the overview itself."""
    page.wait_for_function("() => (window.vaeStats?.overviewDraws || 0) > 0")
    shoot(page, "guided-start", full_page=False)
    shoot_part(page, "#overview", "overview")


def shoot_teaching(page: "Page") -> None:
    """The teaching views: a traversal after a slider drag, example thumbnails, the ELBO of a digit, Compare."""
    open_tab(page, "Latent sliders")
    old = image_src(page, "#traversal", wait=True)
    drag_slider(page, 1, 0.85)
    wait_new_image(page, "#traversal", old)
    shoot_part(page, "#traversal", "traversal")
    opening = open_on_example(page, "Reconstruct")
    example_thumbnail(page, "#tab-reconstruct", "digit-9-1-test0007.png").click()  # reconstructs at once
    wait_new_image(page, "#recon", opening)
    page.wait_for_function("() => /KL/.test(document.querySelector('#anatomy-terms')?.textContent || '')")
    page.wait_for_timeout(1500)  # the plots draw after their data arrive
    shoot_part(page, "#tab-reconstruct .vae-examples", "example-thumbnails")
    shoot_part(page, "#anatomy", "anatomy")
    open_tab(page, "Posterior collapse & beta")
    image_src(page, "#compare-grids", wait=True)
    page.wait_for_timeout(1500)
    shoot(page, "compare")


def shoot_drag(page: "Page") -> None:
    """An animated GIF of the first slider dragged from -2.5 to 2.5 and back, the digit redrawn by the page."""
    page.locator("#decoded").scroll_into_view_if_needed()  # then measured: the clip is in the window's pixels
    digit, first = page.locator("#decoded").bounding_box(), page.locator("#z-0").bounding_box()
    clip = {"x": digit["x"], "y": digit["y"], "width": first["x"] + first["width"] - digit["x"],
            "height": digit["height"]}
    values = [-2.5 + 5 * i / (DRAG_FRAMES // 2 - 1) for i in range(DRAG_FRAMES // 2)]
    frames = []
    for value in values + values[::-1]:
        set_slider(page, 0, round(value / 0.05) * 0.05)
        frames.append(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB"))
    frames[0].save(DOCS / "drag.gif", save_all=True, append_images=frames[1:], duration=60, loop=0, optimize=True)
    print("wrote docs/drag.gif")


def shoot_desk_photo(page: "Page") -> None:
    """A 3-MP phone photo of a squared sheet on a desk, turned, a shadow across it (made from MNIST test digit 1,
    a "2"), uploaded and read."""
    with np.load(ROOT / "tests" / "data" / "mnist-sample.npz") as sample:
        digit = sample["test_images"][1]
    photo = Path(tempfile.mkdtemp(prefix="vae-shots-")) / "desk-photo.jpg"
    photo.write_bytes(make("desk_squared_shadow", digit, 5, 2000, 1500))
    open_on_example(page, "Reconstruct")
    page.locator("#tab-reconstruct").get_by_role("button", name="Clear").first.click()  # the example's file goes
    page.locator("#tab-reconstruct input[type=file]").first.set_input_files(str(photo))
    page.locator("#tab-reconstruct .file-preview td.filename[aria-label='desk-photo.jpg']").wait_for()
    click_and_wait(page, "Reconstruct", "#recon")
    image_src(page, "#where", wait=True)
    page.wait_for_function(SCORE_SHOWN)
    shoot(page, "reconstruct-desk-photo")


def shoot_map(page: "Page") -> None:
    """The latent map of the 2-D model, with the pointer over one point, decoded by the page."""
    select_model(page, MAP_MODEL)
    open_latent_map(page)
    image_src(page, "#manifold", wait=True)
    the_map = page.locator("#map-view canvas.vae-map")
    the_map.scroll_into_view_if_needed()  # a pointer outside the window moves nothing
    box = the_map.bounding_box()
    page.mouse.move(box["x"] + 0.68 * box["width"], box["y"] + 0.3 * box["height"])
    shoot(page, "latent-map")


def shoot_code_map(page: "Page") -> None:
    """The 32-D model's Code map: a test digit pointed at, the nearest test digits of an example, the example
    moved halfway from the average 3 to the average 8, and an analogy."""
    select_model(page, CODE_MAP_MODEL)
    open_tab(page, "Code map")
    page.wait_for_function(CODE_MAP_READY, timeout=60_000)
    choose_example(page, "#tab-code-map", "digit-3-1-test0018.png")
    page.locator("#code-map-neighbours img").first.wait_for()
    page.locator("#code-map-t input[type=range]").fill("0.5")
    click_and_wait(page, "a - b + c", "#code-map-analogy")
    point_at_a_dot(page)
    shoot_part(page, "#tab-code-map", "code-map")


def shoot_every_class(page: "Page") -> None:
    """The conditional model: one example decoded with every label."""
    select_model(page, CONDITIONAL_MODEL)
    open_on_example(page, "Every class")
    choose_example(page, "#tab-every", "digit-4-1-test0004.png")
    click_and_wait(page, "Decode with every label", "#every-row")
    shoot(page, "every-class")


def shoot_fashion(page: "Page") -> None:
    """The Fashion-MNIST model's samples, with its own class names in the picker."""
    select_model(page, FASHION_MODEL)
    open_tab(page, "Random samples")
    page.wait_for_function(SAMPLES_DRAWN)
    shoot(page, "fashion-samples")


def shoot_phone(page: "Page") -> None:
    """A phone: a finger drags the 10th slider (the digit stays on top), and draws a 7, which the model then sees."""
    slider = page.locator("input[type=range][aria-label^='range slider for']").nth(9)
    slider.scroll_into_view_if_needed()
    area = slider.bounding_box()
    y = area["y"] + area["height"] / 2
    old = canvas_pixels(page, "#decoded")
    touch_drag(page, [(area["x"] + area["width"] / 2, y), (area["x"] + area["width"] * 0.9, y)])
    wait_new_pixels(page, "#decoded", old)
    shoot(page, "phone-sliders", full_page=False)
    open_on_example(page, "Reconstruct", touch=True)
    draw_digit(page, "#tab-reconstruct", touch=True)
    old = image_src(page, "#seen")
    page.get_by_role("button", name="Reconstruct", exact=True).tap()
    wait_new_image(page, "#seen", old)
    page.locator("#tab-reconstruct canvas.vae-pad-canvas").scroll_into_view_if_needed()
    shoot(page, "phone-draw", full_page=False)


def shoot_learn(page: "Page") -> None:
    """Watch it learn: a GIF of the codes spreading and the samples forming (one frame per update), then the view."""
    open_tab(page, "Watch it learn")
    page.get_by_role("button", name="Train", exact=True).click()
    frames, seen = [], 0
    while len(frames) < LEARN_FRAMES:
        page.wait_for_function(f"(window.vaeLearnStats?.updates || 0) > {seen}", timeout=120_000)
        seen = page.evaluate("window.vaeLearnStats.updates")
        page.locator("#learn-view .vae-learn-pictures").scroll_into_view_if_needed()  # a clip shows the screen only
        codes, samples = (page.locator(f"canvas.vae-learn-{c}").bounding_box() for c in ("codes", "samples"))
        clip = {"x": codes["x"], "y": codes["y"], "width": samples["x"] + samples["width"] - codes["x"],
                "height": max(codes["height"], samples["height"])}
        shot = Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB")
        shot = shot.resize((LEARN_WIDTH, shot.height * LEARN_WIDTH // shot.width))
        frames.append(shot.quantize(colors=128, method=Image.Quantize.FASTOCTREE))  # keeps the class colours
    page.get_by_role("button", name="Stop", exact=True).click()
    frames[0].save(DOCS / "watch-it-learn.gif", save_all=True, append_images=frames[1:], duration=250, loop=0,
                   optimize=True)
    print("wrote docs/watch-it-learn.gif")
    page.locator("#learn-explore").wait_for(state="visible", timeout=60_000)
    shoot(page, "watch-it-learn")


def shoot_compress(page: "Page") -> None:
    """The Compress view: an example digit coded into a .vae file, then rebuilt from the file alone."""
    select_model(page, COMPRESS_MODEL)
    opening = open_on_example(page, "Compress")
    choose_example(page, "#tab-compress", "digit-2-1-test0001.png")  # compresses at once
    wait_new_image(page, "#binary", opening)
    page.locator("#vae-file .file-preview").wait_for()
    click_and_wait(page, "Decompress", "#rebuilt")
    page.wait_for_function("() => /Identical/.test(document.querySelector('#rebuilt-note')?.textContent || '')")
    shoot(page, "compress")


def shoot_why(page: "Page") -> None:
    """The plain autoencoder beside the 2-D VAE: both code maps and both decodings of the same random draws."""
    open_tab(page, "Why a VAE?")
    for selector in ("#why-map-ae", "#why-map-vae", "#why-draws-ae", "#why-draws-vae"):
        image_src(page, selector, wait=True)
    shoot(page, "why-a-vae")


def shoot_projector(page: "Page") -> None:
    """A 1024 x 768 projector: the latent map beside its decoded point, the pointer over the map."""
    page.set_viewport_size(PROJECTOR)
    select_model(page, MAP_MODEL)
    open_latent_map(page)
    page.locator("#map-view").evaluate("e => e.scrollIntoView({block: 'start'})")
    box = page.locator("#map-view canvas.vae-map").bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.25 * box["height"])
    shoot(page, "projector-map", full_page=False)


def shoot_phone_reconstruct(page: "Page") -> None:
    """A phone: an example tapped in Reconstruct, its three pictures side by side, brought into view."""
    opening = open_on_example(page, "Reconstruct", touch=True)
    example_thumbnail(page, "#tab-reconstruct", "digit-2-1-test0001.png").tap()
    wait_new_image(page, "#recon", opening)
    page.wait_for_function(SCORE_SHOWN)
    shoot(page, "phone-reconstruct", full_page=False)


SHOTS = {"first": shoot_first_visit, "drag": shoot_drag, "views": shoot_views, "teaching": shoot_teaching,
         "desk": shoot_desk_photo, "map": shoot_map, "code-map": shoot_code_map, "every": shoot_every_class,
         "fashion": shoot_fashion, "phone": shoot_phone, "compress": shoot_compress, "why": shoot_why,
         "projector": shoot_projector, "phone-reconstruct": shoot_phone_reconstruct, "learn": shoot_learn}


def main() -> None:
    """Start the app, take every shot (a fresh page per set), stop the app."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=SHOTS, action="append", help="take only this set (repeatable)")
    only = parser.parse_args().only or list(SHOTS)
    DOCS.mkdir(exist_ok=True)
    errors: list[str] = []
    with serve_app() as (url, _, _), chromium() as browser:
        for name in only:
            page, page_errors = open_app(browser, url, phone=name.startswith("phone"))
            SHOTS[name](page)
            errors += page_errors
    if errors:
        print("console errors:", *errors, sep="\n  ")


if __name__ == "__main__":
    main()
