"""End-to-end tests: the real app started as a user starts it, driven over HTTP and in Chromium. Marked `slow`:
`python -m pytest -m "not slow"` runs the rest in a few minutes."""

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from benchmarks.harness import CHROMIUM, chromium, serve_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser


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
