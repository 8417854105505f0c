"""End-to-end tests: the real app started as a user starts it, driven over HTTP and in Chromium. Marked `slow`:
`python -m pytest -m "not slow"` runs the rest in a few minutes.

The browser tests' modules share what they need here: `NEEDS_CHROMIUM` (their pytestmark), the app (`app_url`) and
one headless Chromium (`browser`), each started once per module.
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
    """One headless Chromium for the module."""
    with chromium() as b:
        yield b


@contextmanager
def app_page(browser: "Browser", url: str, **options: Any) -> Iterator["Page"]:
    """A fresh page of the app in its initial state (open_app's options: phone, screen), closed at the end;
    fails the test on console or page errors."""
    pg, errors = open_app(browser, url, **options)
    yield pg
    pg.close()
    assert not errors, errors
