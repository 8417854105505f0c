"""The shared harness of the browser tests and the app benchmarks.

Start `python3 app.py` on a free port with a private cache, launch Debian's headless Chromium,
open the page, and act as a user: open a tab, move a slider, pick an example, draw a digit,
click and wait for a new image.
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Request

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(7870, 7900)  # the range this project's browser jobs may use on a shared machine
CHROMIUM = Path("/usr/bin/chromium")  # Debian's build: Playwright's own download does not work offline
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 900}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}  # a 390-px phone, touch
PROJECTOR = {"viewport": {"width": 1024, "height": 768}}  # a classroom projector's screen
SLIDER_STEP = 0.05  # the app's latent slider step; values off this grid are rounded by the browser
SEVEN = [(-50, -60), (50, -60), (10, 70)]  # a "7", as offsets in px from the centre of a full-size pad
MOVE_MS, REST_MS = 16, 100  # a finger's moves come once a frame; it rests a moment before it lifts
PAD_SIZE = 280  # px: the drawing pad's size on a desktop screen (static/draw.js)
SCORE_SHOWN = "() => /nats/.test(document.querySelector('#score')?.textContent || '')"
IMG_SRC = "sel => document.querySelector(sel + ' img')?.src || ''"
IMG_CHANGED = """([sel, old]) => { const i = document.querySelector(sel + ' img');
  return !!i && !!i.src && i.src !== old && i.complete && i.naturalWidth > 0; }"""
# The grey levels (0-255) of the 28x28 canvas the page paints a decoded digit into, in `sel`.
CANVAS_PIXELS = """sel => { const c = document.querySelector(sel + ' canvas.vae-digit');
  if (!c) return null;
  const d = c.getContext('2d').getImageData(0, 0, 28, 28).data, out = [];
  for (let i = 0; i < d.length; i += 4) out.push(d[i + 3] ? d[i] : -1);
  return out; }"""
PAINTED = "() => (window.vaeStats?.paints || 0) > 0"
# The Code map's files and the model's decoder are in: the page has decoded the class-direction slider.
CODE_MAP_READY = "() => (window.vaeCodeMapStats?.directionPaints || 0) > 0"


# ---- timing ----

def summary(name: str, ms: list[float], target: float | None = None) -> str:
    """One line: count, mean, p50, p95 and max in milliseconds, and the target if there is one."""
    q = statistics.quantiles(ms, n=100, method="inclusive")
    line = (f"{name:<42} n={len(ms):<4} mean {statistics.fmean(ms):7.2f}  p50 {q[49]:7.2f}  p95 {q[94]:7.2f}"
            f"  max {max(ms):7.2f} ms")
    if target is not None:
        line += f"   target p95 <= {target:g} ms: {'met' if q[94] <= target else 'MISSED'}"
    return line


def timed(fn: Callable[[], object]) -> float:
    """Milliseconds one call of fn takes."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


# ---- the app as a subprocess ----

def free_port() -> int:
    """A port in PORTS that nothing listens on now."""
    for port in PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def start_app(port: int, log: Path, cache: Path, cwd: Path = ROOT, python: str = sys.executable,
              env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python3 app.py` in `cwd` serving on `port`, its output going to `log`, its temporary files in `cache`.

    `env` replaces this process's environment (the Space rehearsal starts from a clean one).

    A private cache, because on shutdown Gradio deletes every file its app put in the cache (delete_cache),
    and cached copies are shared by content hash: with the common /tmp/gradio, stopping this server would
    delete files that other running instances still serve (example images, for one), and vice versa.
    """
    # Unbuffered: wait_ready reads the log for the port the app says it listens on.
    env = {**(os.environ if env is None else env), "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen([python, "app.py"], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)


class PortTaken(RuntimeError):
    """Another server took the port between free_port() and our app binding it (Gradio then moves on)."""


def launched_port(log: Path) -> int | None:
    """The port the app says it listens on ('Running on local URL: ...'), or None before it says so."""
    found = re.search(r"Running on local URL:\s+\S+:(\d+)", log.read_text(errors="replace"))
    return int(found.group(1)) if found else None


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> float:
    """Seconds until our app listens at `url` and answers HTTP 200; raises with the app's log if it dies or times
    out, PortTaken if it had to listen elsewhere (a 200 from `url` would then come from somebody else's server)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        port = launched_port(log)
        if port is None:
            time.sleep(0.1)
            continue
        if port != urlparse(url).port:
            raise PortTaken(f"{url} was taken; app.py listens on port {port}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"app.py gave no HTTP 200 within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_app(proc: subprocess.Popen) -> None:
    """Terminate the app process we started (by its pid), killing it if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serve_app(port: int | None = None, **start: object) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """The app running on `port`, or on a free one: (url, process, seconds to first HTTP 200); stopped on exit.

    `start` goes to start_app (cwd, python, env).
    """
    cache = Path(tempfile.mkdtemp(prefix="vae-app-cache-"))
    for _ in range(1 if port else 3):  # other jobs on this machine start servers on the same port range
        chosen = port or free_port()
        log, url = cache.parent / f"{cache.name}-{chosen}.log", f"http://127.0.0.1:{chosen}/"  # a log of its own
        proc = start_app(chosen, log, cache, **start)
        try:
            startup = wait_ready(url, proc, log)
            break
        except PortTaken:
            stop_app(proc)
        except BaseException:
            stop_app(proc)
            shutil.rmtree(cache, ignore_errors=True)
            raise
    else:
        shutil.rmtree(cache, ignore_errors=True)
        raise RuntimeError(f"no port stayed free long enough for the app ({port or 'a free one in the range'})")
    try:
        yield url, proc, startup
    finally:
        stop_app(proc)
        shutil.rmtree(cache, ignore_errors=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (utime + stime in /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the page in headless Chromium ----

@contextmanager
def chromium() -> Iterator["Browser"]:
    """Headless Debian Chromium driven by Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def is_external(url: str) -> bool:
    """Whether a resource lives off this machine (it cannot load here: there is no internet)."""
    return bool(url) and urlparse(url).hostname not in ("127.0.0.1", "localhost")


def console_error(msg: "ConsoleMessage") -> str | None:
    """The text of a console error that matters, or None.

    Ignored, because they say nothing about our code: errors about external resources (web fonts,
    CDN scripts: this machine has no internet) and the browser's automatic /favicon.ico request.
    """
    if msg.type != "error":
        return None
    url = msg.location.get("url", "")
    if is_external(url) or "favicon" in url or "favicon" in msg.text:
        return None
    return f"console: {msg.text} ({url})"


def open_app(browser: "Browser", url: str, phone: bool = False, screen: dict | None = None) -> tuple["Page", list[str]]:
    """A fresh page showing the app's initial state (on a desktop screen, a phone's, or `screen`: new_page's
    options such as PROJECTOR), and a live list of its console errors and page errors."""
    page = browser.new_page(**(screen or (PHONE if phone else {"viewport": VIEWPORT})))
    errors: list[str] = []

    def on_console(msg: "ConsoleMessage") -> None:
        """Keep the console errors that matter."""
        if text := console_error(msg):
            errors.append(text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(url, wait_until="load")
    page.wait_for_function(PAINTED, timeout=60_000)  # the page has decoded and drawn the origin
    # and the first load's answers are in: a model switch before then races them (docs/engineering.md)
    page.wait_for_function("() => window.vaeStats.answers > 0", timeout=60_000)
    return page, errors


def score_shown(page: "Page", other_than: float | None = None) -> float:
    """The negative ELBO (nats) Reconstruct shows, once its score reads as one and is not `other_than`: while an
    answer is on its way, the score's text is Gradio's timer ("0.2s")."""
    return page.wait_for_function(
        "old => { const m = /^(\\d+\\.\\d+) nats/.exec(document.querySelector('#score')?.innerText || '');"
        " return m && Number(m[1]) !== old && Number(m[1]); }", arg=other_than).json_value()


def image_src(page: "Page", selector: str, wait: bool = False) -> str:
    """The src of the <img> inside the element `selector` ('' if none); with wait, first wait for one to load."""
    return wait_new_image(page, selector, "") if wait else page.evaluate(IMG_SRC, selector)


def wait_new_image(page: "Page", selector: str, old_src: str, timeout: float = 15_000) -> str:
    """Wait until the <img> in `selector` shows a src other than old_src, fully loaded; returns the new src."""
    page.wait_for_function(IMG_CHANGED, arg=[selector, old_src], timeout=timeout)
    return page.evaluate(IMG_SRC, selector)


def canvas_pixels(page: "Page", selector: str) -> list[int] | None:
    """Grey levels of the decoded digit the page drew under `selector` (-1 where nothing is drawn)."""
    return page.evaluate(CANVAS_PIXELS, selector)


def wait_new_pixels(page: "Page", selector: str, old: list[int] | None, timeout: float = 15_000) -> list[int]:
    """Wait until the digit canvas under `selector` shows a drawn picture other than `old`; returns it."""
    page.wait_for_function(f"([sel, old]) => {{ const p = ({CANVAS_PIXELS})(sel);"
                           " return !!p && p[0] >= 0 && JSON.stringify(p) !== JSON.stringify(old); }",
                           arg=[selector, old], timeout=timeout)
    return canvas_pixels(page, selector)


# The words of a table under `sel` that the screen breaks across two lines (a word may end a line after its hyphen).
BROKEN_WORDS = """sel => [...document.querySelectorAll(sel + ' td, ' + sel + ' th')].flatMap(cell => {
  const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT), broken = [];
  for (let n = walk.nextNode(); n; n = walk.nextNode())
    for (const m of n.data.matchAll(/[^\\s-]+-?/g)) {
      const r = document.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
      if (r.getClientRects().length > 1) broken.push(m[0]);
    }
  return broken; })"""


def table_flaws(page: "Page", selector: str) -> list[str]:
    """What keeps the table under `selector` from reading on this screen: each word broken across lines, and
    "wider than its box" if part of it lies out of sight. Empty when it reads."""
    wide = page.evaluate("sel => { const t = document.querySelector(sel + ' table');"
                         " return t.offsetWidth > t.parentElement.closest('div').clientWidth; }", selector)
    return page.evaluate(BROKEN_WORDS, selector) + (["wider than its box"] if wide else [])


# The texts of the plots under `sel` (their titles, ticks and legends) that lie out of the plot, or on or against
# another (less than 2 px apart); the labels a plot hides (opacity 0) do not count.
PLOT_FLAWS = """sel => [...document.querySelectorAll(sel + ' .vega-embed svg')].flatMap(svg => {
  const box = svg.getBoundingClientRect(), flaws = [];
  const texts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim() && t.getClientRects().length
      && getComputedStyle(t).opacity !== '0').map(t => [t.textContent.trim(), t.getBoundingClientRect()]);
  for (const [s, r] of texts) if (r.left < box.left - 1 || r.right > box.right + 1) flaws.push(`${s} out of the plot`);
  texts.forEach(([s, r], i) => texts.slice(i + 1).forEach(([u, q]) => {
    if (r.left < q.right + 2 && q.left < r.right + 2 && r.top < q.bottom - 1 && q.top < r.bottom - 1)
      flaws.push(`${s} against ${u}`);
  }));
  return flaws; })"""


def plot_flaws(page: "Page", selector: str) -> list[str]:
    """What keeps the plots under `selector` from reading on this screen (see PLOT_FLAWS); empty when they read."""
    return page.evaluate(PLOT_FLAWS, selector)


def set_slider(page: "Page", index: int, value: float) -> None:
    """Move the index-th visible latent slider to `value` as a drag does (sets the range input: input + change)."""
    page.locator("input[type=range][aria-label^='range slider for']").nth(index).fill(f"{value:.2f}")


# ---- user flows ----

def open_tab(page: "Page", name: str) -> None:
    """Click a top-level tab."""
    page.get_by_role("tab", name=name, exact=True).click()


def open_interpolate(page: "Page") -> None:
    """Open Interpolate and wait for the path it opens on (between two examples) to reach the scrubber: a pick made
    before then could be overwritten by the opening's two."""
    open_tab(page, "Interpolate")
    page.wait_for_function("() => !document.querySelector('#interp-scrub input[type=range]').disabled",
                           timeout=30_000)


# The views that read an example on a first look, and the picture that shows their answer.
OPENING_ANSWER = {"Reconstruct": "#recon", "Compress": "#binary", "Every class": "#every-row"}


def open_on_example(page: "Page", name: str, touch: bool = False) -> str:
    """Open a view of OPENING_ANSWER (with a finger if `touch`) and wait until the example it opens on is answered:
    a digit given before then could be overwritten by the opening's answer. Returns that answer's picture's src."""
    open_view(page, name, touch=touch)
    return image_src(page, OPENING_ANSWER[name], wait=True)


def open_latent_map(page: "Page") -> None:
    """Open Latent map and wait until its map is drawn and shown: the page draws it as soon as the model is chosen
    in the page, but the view shows it only once the server's answer has removed the "needs a 2-D model" notice."""
    open_tab(page, "Latent map")
    page.wait_for_function("() => document.querySelector('#map-view .vae-where')?.textContent")
    page.locator("#map-view canvas.vae-map").wait_for(state="visible", timeout=30_000)


def open_view(page: "Page", name: str, touch: bool = False, timeout: float = 15.0) -> None:
    """Choose a view by its tab, through the "..." menu where Gradio has moved the tab (a narrow screen), with a
    finger if `touch`; waits until the tab is there (a model switch shows some) and the view is chosen."""
    press = (lambda target: target.tap()) if touch else (lambda target: target.click())
    tab, more = page.get_by_role("tab", name=name, exact=True), page.get_by_role("button", name="More tabs")
    item = page.locator(".overflow-dropdown button", has_text=name)
    deadline = time.monotonic() + timeout
    while not (tab.count() and tab.first.is_visible()):
        if more.count() and more.first.is_visible():
            press(more.first)
            if item.count():
                press(item.first)
                break
            press(more.first)  # not in the menu yet: close it and look again
        if time.monotonic() > deadline:
            raise TimeoutError(f"no tab {name!r} on the page")
        page.wait_for_timeout(200)
    else:
        press(tab.first)
    page.locator("[role=tab][aria-selected=true]", has_text=name).first.wait_for(state="attached")


def wait_in_sight(page: "Page", selector: str, timeout: float = 5_000, margin: int = 40) -> None:
    """Wait until the element's top edge lies on screen with at least `margin` px of it showing (the page scrolled
    it there)."""
    page.wait_for_function("([sel, margin]) => { const r = document.querySelector(sel)?.getBoundingClientRect();"
                           " return !!r && r.top > -2 && r.top < innerHeight - margin; }", arg=[selector, margin],
                           timeout=timeout)


def example_thumbnail(page: "Page", scope: str, filename: str) -> "Locator":
    """The thumbnail of the example `filename` in the examples gallery under `scope`."""
    return page.locator(f"{scope} .vae-examples img[src$='/{filename}']")


def choose_example(page: "Page", scope: str, filename: str) -> None:
    """Click an example's thumbnail under `scope` and wait until its file input shows it."""
    box = page.locator(scope)
    example_thumbnail(page, scope, filename).click()
    box.locator(f".file-preview td.filename[aria-label='{filename}']").wait_for()


def point_at_a_dot(page: "Page") -> tuple[float, float]:
    """On the Code map, move the mouse across the map's middle until it points at a dot (the page then shows that
    test digit); where it is then."""
    canvas = page.locator("#code-map-view canvas.vae-map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    before = page.evaluate("() => window.vaeCodeMapStats.hoverPaints")
    for step in range(41):
        at = (box["x"] + (0.3 + 0.01 * step) * box["width"], box["y"] + 0.5 * box["height"])
        page.mouse.move(*at)
        if page.evaluate("() => window.vaeCodeMapStats.hoverPaints") > before:
            return at
    raise AssertionError("no dot across the middle of the map")


def touch_drag(page: "Page", points: list[tuple[float, float]], steps: int = 10,
               on_move: Callable[[], None] | None = None) -> None:
    """Drag one finger through `points` (viewport px) in `steps` moves per segment, calling on_move after each.

    Chromium's own touch input (CDP), so the page sees what a phone sends: touch pointer events,
    and the default actions of a finger (a range input follows it, a page scrolls).
    """
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, at: tuple[float, float] | None = None) -> None:
        """One touch event at `at`."""
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": at[0], "y": at[1]}] if at else []})

    touch("touchStart", points[0])
    for (x0, y0), (x1, y1) in pairwise(points):
        for i in range(1, steps + 1):
            page.wait_for_timeout(MOVE_MS)
            touch("touchMove", (x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps))
            if on_move:
                on_move()
    # The finger rests before it lifts: lifted in motion, Chromium starts a fling, and a tap during a fling
    # only stops it (the next button tap would not click).
    page.wait_for_timeout(REST_MS)
    touch("touchMove", points[-1])
    page.wait_for_timeout(REST_MS)
    touch("touchEnd")
    cdp.detach()


def draw_digit(page: "Page", scope: str, stroke: list[tuple[int, int]] = SEVEN, touch: bool = False) -> None:
    """Open the Draw tab in `scope` and draw one stroke there, as a user does: no tool to pick first.

    With touch, a finger taps the tab and draws (the page must have touch, see PHONE); else the mouse.
    The drawing goes to the server with the next click, so nothing is waited for.
    """
    box = page.locator(scope)
    tab = box.get_by_role("tab", name="Draw", exact=True)
    if touch:
        tab.tap()
    else:
        tab.click()
    canvas = box.locator("canvas.vae-pad-canvas").first
    canvas.scroll_into_view_if_needed()
    area = canvas.bounding_box()
    assert area, "the drawing pad is not on screen"
    cx, cy = area["x"] + area["width"] / 2, area["y"] + area["height"] / 2
    scale = area["width"] / PAD_SIZE  # the stroke is given for a full-size pad
    points = [(cx + x * scale, cy + y * scale) for x, y in stroke]
    if touch:
        touch_drag(page, points)
        return
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=10)
    page.mouse.up()


def click_and_wait(page: "Page", button: str, selector: str) -> str:
    """Click a button and wait for a new image in `selector`; returns its src."""
    old = image_src(page, selector)
    page.get_by_role("button", name=button, exact=True).click()
    return wait_new_image(page, selector, old, timeout=30_000)


def model_option(page: "Page", name: str) -> "Locator":
    """The Model dropdown's option for the model `name` (its label: the name, a colon, what the model is for)."""
    return page.get_by_role("option", name=re.compile(rf"^{re.escape(name)}:"))


def select_model(page: "Page", name: str) -> None:
    """Choose a model in the Model dropdown, and wait until the page has taken the switch (static/page.js). The
    server may still be answering it: wrap the call in `settles` where a test counts the requests that follow."""
    page.get_by_role("combobox", name="Model", exact=True).click()
    model_option(page, name).click()
    page.wait_for_function("name => window.vaePage?.current().model === name", arg=name, timeout=30_000)


@contextmanager
def settles(page: "Page", quiet: float = 1.0, timeout: float = 60.0) -> Iterator[None]:
    """On leaving the block, wait until every request the page made to the app (/gradio_api/) since the block began
    has finished and none has begun for `quiet` seconds: what the block set off has run its course."""
    pending: set[Request] = set()
    last = [time.monotonic()]

    def begun(request: "Request") -> None:
        if "/gradio_api/" in request.url:
            pending.add(request)
            last[0] = time.monotonic()

    def ended(request: "Request") -> None:
        if request in pending:
            pending.discard(request)
            last[0] = time.monotonic()

    events = {"request": begun, "requestfinished": ended, "requestfailed": ended}
    for event, listener in events.items():
        page.on(event, listener)
    try:
        yield
        deadline = time.monotonic() + timeout
        while pending or time.monotonic() - last[0] < quiet:
            if time.monotonic() > deadline:
                raise AssertionError(f"the page still waits on {[r.url for r in pending]} after {timeout} s")
            page.wait_for_timeout(100)
    finally:
        for event, listener in events.items():
            page.remove_listener(event, listener)


def settle(page: "Page", quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Wait until the page has sent the app no request for `quiet` seconds (those it sends then have finished)."""
    with settles(page, quiet, timeout):
        pass
