"""Screenshots of each view of the app for the README, and one interpolation GIF, written to docs/.

    python3 benchmarks/screenshots.py [--wait-2d SECONDS]

The latent-map view needs the 2-D model (weights/mlp-2d.safetensors); without it that shot is skipped,
or, with --wait-2d, the script first waits up to that long for the file to appear.
"""

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from playwright.sync_api import Page

DOCS = ROOT / "docs"
MAP_MODEL = "mlp-2d"


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


def shoot_map(page: "Page") -> None:
    """The latent map of the 2-D model, with one point decoded."""
    select_model(page, MAP_MODEL)
    open_tab(page, "Latent map")
    image_src(page, "#manifold", wait=True)
    page.locator("#tab-map canvas, #tab-map svg").first.wait_for()  # the scatter plot
    page.locator("#tab-map input[type=range]").first.fill("1.5")
    image_src(page, "#point", wait=True)
    shoot(page, "latent-map")


def wait_for_file(path: Path, seconds: float) -> bool:
    """Whether `path` exists, waiting up to `seconds` for it."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(5)
    return path.exists()


def main() -> None:
    """Start the app, take every shot, stop the app."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait-2d", type=float, default=0, help="seconds to wait for the 2-D model's weights")
    args = parser.parse_args()
    has_map = wait_for_file(ROOT / "weights" / f"{MAP_MODEL}.safetensors", args.wait_2d)
    DOCS.mkdir(exist_ok=True)
    with serve_app() as (url, _, _), chromium() as browser:
        page, errors = open_app(browser, url)
        shoot_views(page)
        if has_map:
            page, map_errors = open_app(browser, url)
            shoot_map(page)
            errors += map_errors
        else:
            print(f"skipped the latent map: weights/{MAP_MODEL}.safetensors does not exist (try --wait-2d 600)")
        if errors:
            print("console errors:", *errors, sep="\n  ")


if __name__ == "__main__":
    main()
