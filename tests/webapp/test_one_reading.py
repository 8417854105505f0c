"""One Reconstruct of an upload, through the page's own events in Chromium, finds the digit once and encodes it once.

The page is served in this process, so the test counts the calls of the encoder and of the digit finder.
"""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from benchmarks.harness import (
    CHROMIUM,
    choose_example,
    chromium,
    click_and_wait,
    free_port,
    image_src,
    open_app,
    open_on_example,
    wait_new_image,
)
from vae.model import VAE
from webapp import digit_input
from webapp.demo import create_demo, launch

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
EVERYTHING_SHOWN = """() => ['#where', '#seen', '#recon'].every(s => document.querySelector(s + ' img')?.complete)
  && /nats/.test(document.querySelector('#score')?.textContent || '')
  && /nats/.test(document.querySelector('#anatomy-terms')?.textContent || '')"""


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """The app on the shipped weights, served here, open in Chromium on its Reconstruct tab."""
    demo, port = create_demo(), free_port()
    launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        with chromium() as browser:
            page, errors = open_app(browser, f"http://127.0.0.1:{port}/")
            open_on_example(page, "Reconstruct")
            yield page
            assert errors == []
    finally:
        demo.close()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of the encoder's passes (its features, which every encoding starts from) and of the digit finder's
    calls, from now on."""
    counts = {"encode": 0, "find_digit": 0}
    encode, find = VAE.encoder_state, digit_input.find_digit

    def counting_encode(self: VAE, *args: object, **kwargs: object) -> object:
        counts["encode"] += 1
        return encode(self, *args, **kwargs)

    def counting_find(*args: object, **kwargs: object) -> object:
        counts["find_digit"] += 1
        return find(*args, **kwargs)

    monkeypatch.setattr(VAE, "encoder_state", counting_encode)
    monkeypatch.setattr(digit_input, "find_digit", counting_find)
    return counts


def test_an_example_is_found_and_encoded_once(page: Page, calls: dict[str, int]) -> None:
    """Clicking an example fills every output of the tab: the digit's box, what the model sees, the
    reconstruction, its samples, the score and the ELBO taken apart."""
    old = image_src(page, "#recon")  # the example the view opened on
    choose_example(page, "#tab-reconstruct", "digit-0-1-test0003.png")
    wait_new_image(page, "#recon", old, timeout=30_000)
    page.wait_for_function(EVERYTHING_SHOWN, timeout=30_000)
    page.wait_for_timeout(1_000)  # any event still on its way would be counted too
    assert calls == {"encode": 1, "find_digit": 1}


def test_the_button_finds_and_encodes_once_more(page: Page, calls: dict[str, int]) -> None:
    click_and_wait(page, "Reconstruct", "#recon")
    page.wait_for_function(EVERYTHING_SHOWN, timeout=30_000)
    page.wait_for_timeout(1_000)
    assert calls == {"encode": 1, "find_digit": 1}
