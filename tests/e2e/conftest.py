"""End-to-end tests: the real app started as a user starts it, driven over HTTP and in Chromium. Marked `slow`:
`python -m pytest -m "not slow"` runs the rest in a few minutes."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder slow."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.slow)
