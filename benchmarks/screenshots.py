"""Screenshots of each view of the app for the README, and one interpolation GIF, written to docs/.

    python3 benchmarks/screenshots.py

The latent map, every-class and Fashion-MNIST shots use the shipped mlp-2d, cmlp-20d and
fashion-mlp-20d models.
"""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    ROOT,
    SCORE_SHOWN,
    choose_example,
    chromium,
    click_and_wait,
    image_src,
    open_app,
    open_tab,
    select_model,
    serve_app,
    set_slider,
    wait_new_image,
)
from tests.photo_corpus import make  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

DOCS = ROOT / "docs"
MAP_MODEL = "mlp-2d"
CONDITIONAL_MODEL = "cmlp-20d"
FASHION_MODEL = "fashion-mlp-20d"


# ---- the shots ----

def shoot(page: "Page", name: str) -> Path:
    """A full-page PNG in docs/."""
    path = DOCS / f"{name}.png"
    page.wait_for_timeout(300)  # let transitions settle
    page.screenshot(path=path, full_page=True)
    print("wrote", path.relative_to(ROOT))
    return path


def shoot_views(page: "Page") -> None:
    """Sliders, samples, reconstruction and interpolation (with its GIF), on the default model."""
    for index, value in ((0, 2.0), (1, -1.5)):
        old = image_src(page, "#decoded")
        set_slider(page, index, value)
        wait_new_image(page, "#decoded", old)
    shoot(page, "latent-sliders")
    open_tab(page, "Random samples")
    click_and_wait(page, "Sample", "#samples")
    shoot(page, "random-samples")
    open_tab(page, "Reconstruct")
    choose_example(page, "#tab-reconstruct", "digit-2-1-test0001.png")
    click_and_wait(page, "Reconstruct", "#recon")
    page.wait_for_function(SCORE_SHOWN)
    shoot(page, "reconstruct")
    open_tab(page, "Interpolate")
    choose_example(page, "#interp-from", "digit-3-1-test0018.png")
    choose_example(page, "#interp-to", "digit-8-1-test0061.png")
    gif = click_and_wait(page, "Interpolate", "#gif")
    (DOCS / "interpolation.gif").write_bytes(page.request.get(gif).body())
    print("wrote docs/interpolation.gif")
    shoot(page, "interpolate")


def shoot_desk_photo(page: "Page") -> None:
    """A 3-MP phone photo of a sheet on a wooden desk (made from MNIST test digit 1, a "2"), uploaded and read."""
    with np.load(ROOT / "tests" / "data" / "mnist-sample.npz") as sample:
        digit = sample["test_images"][1]
    photo = Path(tempfile.mkdtemp(prefix="vae-shots-")) / "desk-photo.jpg"
    photo.write_bytes(make("desk_textured", digit, 7, 2000, 1500))
    open_tab(page, "Reconstruct")
    page.locator("#tab-reconstruct input[type=file]").first.set_input_files(str(photo))
    page.locator("#tab-reconstruct .file-preview td.filename[aria-label='desk-photo.jpg']").wait_for()
    click_and_wait(page, "Reconstruct", "#recon")
    image_src(page, "#where", wait=True)
    page.wait_for_function(SCORE_SHOWN)
    shoot(page, "reconstruct-desk-photo")


def shoot_map(page: "Page") -> None:
    """The latent map of the 2-D model, with one point decoded."""
    select_model(page, MAP_MODEL)
    open_tab(page, "Latent map")
    image_src(page, "#manifold", wait=True)
    page.locator("#tab-map canvas, #tab-map svg").first.wait_for()  # the scatter plot
    page.locator("#tab-map input[type=range]").first.fill("1.5")
    image_src(page, "#point", wait=True)
    shoot(page, "latent-map")


def shoot_every_class(page: "Page") -> None:
    """The conditional model: one example decoded with every label."""
    select_model(page, CONDITIONAL_MODEL)
    open_tab(page, "Every class")
    choose_example(page, "#tab-every", "digit-4-1-test0004.png")
    click_and_wait(page, "Decode with every label", "#every-row")
    shoot(page, "every-class")


def shoot_fashion(page: "Page") -> None:
    """The Fashion-MNIST model's samples, with its own class names in the picker."""
    select_model(page, FASHION_MODEL)
    open_tab(page, "Random samples")
    click_and_wait(page, "Sample", "#samples")
    shoot(page, "fashion-samples")


def main() -> None:
    """Start the app, take every shot (a fresh page per model), stop the app."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    DOCS.mkdir(exist_ok=True)
    errors: list[str] = []
    with serve_app() as (url, _, _), chromium() as browser:
        for shots in (shoot_views, shoot_desk_photo, shoot_map, shoot_every_class, shoot_fashion):
            page, page_errors = open_app(browser, url)
            shots(page)
            errors += page_errors
    if errors:
        print("console errors:", *errors, sep="\n  ")


if __name__ == "__main__":
    main()
