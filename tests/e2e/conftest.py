"""End-to-end tests: the real app started as a user starts it, driven over HTTP and in Chromium. Marked `slow`:
`python -m pytest -m "not slow"` runs the rest in a few minutes.

The browser tests' modules share what they need here: `NEEDS_CHROMIUM` (their pytestmark), the app (`app_url`),
one headless Chromium (`browser`), each started once per module, and fresh pages (`page`, `phone`, `app_page`).
"""

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from benchmarks.harness import CHROMIUM, chromium, open_app, serve_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

NEEDS_CHROMIUM = [
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed (pip install playwright)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder slow."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """The app, started once for the module on a free port, stopped at the end."""
    with serve_app() as (url, _, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """One headless Chromium for the module; the tests that need it skip without Playwright or Chromium."""
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with chromium() as b:
        yield b


@contextmanager
def app_page(browser: "Browser", url: str, **options: Any) -> Iterator["Page"]:
    """A fresh page of the app in its initial state (open_app's options: phone, ...), closed at the end;
    fails the test on console or page errors."""
    pg, errors = open_app(browser, url, **options)
    yield pg
    pg.close()
    assert not errors, errors


@pytest.fixture
def page(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """The page on a 1280 x 900 desktop screen."""
    with app_page(browser, app_url) as pg:
        yield pg


@pytest.fixture
def phone(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """The page on a 390 x 844 touch screen."""
    with app_page(browser, app_url, phone=True) as pg:
        yield pg
