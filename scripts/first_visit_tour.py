"""Walk the running app as three first-time visitors and save what each saw.

A student at 1280x900 (what is a VAE? how does it read my digit?), a teacher at 1024x768 (the latent map,
posterior collapse, why not a plain autoencoder, a link to share) and a phone visitor at 390x844 with touch
(collapse, then compress a digit). Each step prints how long it took from the visitor's action to what they were
waiting for, and leaves a screenshot (JPEG) under --out.

    python app.py &                       # the app, as a user starts it
    python scripts/first_visit_tour.py    # http://127.0.0.1:7860, screenshots in docs/first-visit/
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (  # noqa: E402
    PROJECTOR,
    ROOT,
    chromium,
    draw_digit,
    example_thumbnail,
    open_app,
    open_view,
    touch_drag,
    wait_in_sight,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

DRAWN = "() => (window.vaeStats?.overviewDraws || 0) > 0"  # "How a VAE works" has drawn its digit


class Tour:
    """One visitor's page: each step is an action, what it waits for, and a screenshot named after it."""

    def __init__(self, page: "Page", who: str, out: Path) -> None:
        self.page, self.who, self.out = page, who, out
        self.steps: list[tuple[str, float]] = []

    def step(self, name: str, act: Callable[[], None], done: Callable[[], None]) -> None:
        """Do `act`, wait for `done`, note the seconds between, and save a screenshot."""
        start = time.monotonic()
        act()
        done()
        self.steps.append((name, time.monotonic() - start))
        self.page.wait_for_timeout(400)  # what follows the answer (a scroll, a repaint) settles
        self.page.screenshot(path=self.out / f"{self.who}-{len(self.steps)}-{name}.jpg", type="jpeg", quality=60)
        print(f"{self.who:8} {len(self.steps)}. {name:28} {self.steps[-1][1]:6.1f} s", flush=True)

    def wait(self, script: str, arg: object = None, timeout: float = 60_000) -> Callable[[], None]:
        """A `done` that waits until `script` is true in the page."""
        return lambda: self.page.wait_for_function(script, arg=arg, timeout=timeout)

    def guided(self, label: str, touch: bool = False) -> None:
        """Press a guided-start button and wait until its model is on and its view is in sight."""
        button = self.page.locator("#guided-start .vae-go", has_text=label)
        model = button.get_attribute("data-model")
        self.page.evaluate("window.scrollTo(0, 0)")
        self.step(label.split()[1].lower() if label.startswith("See") else label.split()[0].lower(),
                  button.tap if touch else button.click,
                  lambda: (self.wait(f"() => window.vaePage.current().model === '{model}'")(),
                           wait_in_sight(self.page, "#views > .tab-wrapper", 10_000)))


def arrive(browser: "Browser", url: str, who: str, out: Path, **screen: object) -> Tour:
    """A fresh visitor (empty storage) opening the page: the first step is the overview's first digit."""
    page, _ = open_app(browser, url, **screen)
    tour = Tour(page, who, out)
    page.evaluate("localStorage.clear()")  # a first visit: the overview opens
    address = page.url.split("#")[0]  # no view in the address: a reload of the page's own would scroll to it
    tour.step("arrive", lambda: page.goto(address), tour.wait(DRAWN))
    return tour


def student(browser: "Browser", url: str, out: Path) -> Tour:
    """Reads the overview, draws a new epsilon, looks up KL, then draws a digit and reads the reconstruction."""
    tour = arrive(browser, url, "student", out)
    page = tour.page
    draws = page.evaluate("() => window.vaeStats.overviewDraws")
    tour.step("new-epsilon", page.get_by_role("button", name="New ε").click,
              tour.wait(f"() => window.vaeStats.overviewDraws > {draws}"))
    tour.step("glossary-kl", page.locator(".vae-ov-loss a[href='#g-kl']").click, lambda: wait_in_sight(page, "#g-kl"))
    tour.guided("Draw a digit and see how the model reads it")
    old = page.evaluate("() => document.querySelector('#recon img')?.src || ''")
    tour.step("draw-a-seven", lambda: draw_digit(page, "#tab-reconstruct"),
              tour.wait("old => (document.querySelector('#recon img')?.src || '') !== old", old))
    page.locator("#anatomy").scroll_into_view_if_needed()
    tour.step("its-elbo", lambda: None, tour.wait("() => document.querySelector('#anatomy-terms')?.textContent"))
    return tour


def teacher(browser: "Browser", url: str, out: Path) -> Tour:
    """On a projector: the 2-D map, posterior collapse, a plain autoencoder beside the VAE, a link shared."""
    tour = arrive(browser, url, "teacher", out, screen=PROJECTOR)
    page = tour.page
    tour.guided("Walk the 2-D latent map")
    canvas = page.locator("#map-view canvas.vae-map").bounding_box()

    def sweep() -> None:
        for i in range(20):
            page.mouse.move(canvas["x"] + canvas["width"] * (0.2 + 0.03 * i), canvas["y"] + canvas["height"] * 0.5)

    tour.step("point-at-the-map", sweep, tour.wait("() => document.querySelector('#map-view .vae-where')"
                                                    "?.textContent.includes('z1')"))
    tour.guided("See posterior collapse")
    tour.step("why-a-vae", lambda: open_view(page, "Why a VAE?"), lambda: wait_in_sight(page, "#tab-why"))
    address = page.evaluate("location.href")
    shared, _ = open_app(browser, address, screen=PROJECTOR)
    view = address.split("view=")[1].split("&")[0]
    page.close()
    tour.page = shared
    tour.step("open-the-shared-link", lambda: None,
              tour.wait(f"() => location.hash.includes('view={view}') && document.querySelector('#tab-{view}')"
                        "?.getClientRects().length > 0"))
    return tour


def phone(browser: "Browser", url: str, out: Path) -> Tour:
    """On a phone, with a finger: posterior collapse, then a digit compressed, then a slider dragged."""
    tour = arrive(browser, url, "phone", out, phone=True)
    page = tour.page
    tour.guided("See posterior collapse", touch=True)
    tour.step("compress-tab", lambda: open_view(page, "Compress", touch=True),
              lambda: wait_in_sight(page, "#tab-compress"))
    switch = page.locator("#tab-compress .vae-needs .vae-go")  # the view offers the model it needs
    if switch.is_visible():
        model = switch.get_attribute("data-model")
        tour.step("switch-model", switch.tap, tour.wait(f"() => window.vaePage.current().model === '{model}'"))
    seven = example_thumbnail(page, "#tab-compress", "digit-7-1-test0000.png")
    sizes = "() => document.querySelector('#compress-sizes')?.textContent || ''"
    tour.wait(f"() => ({sizes})().includes('bytes')")()  # the view's opening example, compressed
    opening = page.evaluate(sizes)
    tour.step("compress-a-seven", seven.tap, tour.wait(f"old => ({sizes})().includes('bytes') && ({sizes})() !== old",
                                                       opening))  # no button
    wait_in_sight(page, "#binary")  # the result, brought into sight
    open_view(page, "Latent sliders", touch=True)
    slider = page.locator("input[type=range][aria-label^='range slider for']").first
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    tour.step("drag-a-slider", lambda: touch_drag(page, [(box["x"] + box["width"] / 2, y),
                                                         (box["x"] + box["width"] * 0.9, y)]),
              tour.wait("() => window.vaePage.current().z.some(v => v > 1)"))
    return tour


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:7860/", help="the running app")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "first-visit", help="where the screenshots go")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        for visitor in (student, teacher, phone):
            visitor(browser, args.url, args.out).page.close()


if __name__ == "__main__":
    main()
