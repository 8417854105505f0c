"""End-to-end tests: the real app started as a user starts it, driven over HTTP and in Chromium. Marked `slow`:
`python -m pytest -m "not slow"` runs the rest in a few minutes.

The browser tests' shared fixtures: the app (once per module), Chromium, and fresh pages on a desktop and a phone.
"""

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from benchmarks.harness import CHROMIUM, chromium, open_app, serve_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


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


def opened(browser: "Browser", app_url: str, phone: bool = False) -> Iterator["Page"]:
    """A fresh page in its initial state, closed after the test; fails the test on console or page errors."""
    pg, errors = open_app(browser, app_url, phone=phone)
    yield pg
    pg.close()
    assert not errors, errors


@pytest.fixture
def page(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """The page on a 1280 x 900 desktop screen."""
    yield from opened(browser, app_url)


@pytest.fixture
def phone(browser: "Browser", app_url: str) -> Iterator["Page"]:
    """The page on a 390 x 844 touch screen."""
    yield from opened(browser, app_url, phone=True)
