"""Fixtures for the browser tests: Chromium, the built book on a local web server."""

import os
from collections.abc import Iterator

import pytest
from browser_checks import CHROMIUM, chromium, serve
from playwright.sync_api import BrowserContext, Page


@pytest.fixture(scope="session")
def browser(tmp_path_factory) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile, shared by the browser tests."""
    if not CHROMIUM.is_file():
        message = f"Chromium is not at {CHROMIUM}: run `make browser` (apt-get, as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser) -> Iterator[Page]:
    """A fresh tab, closed after the test."""
    tab = browser.new_page()
    yield tab
    tab.close()


@pytest.fixture(scope="session")
def book_url(book) -> Iterator[str]:
    """Base URL of the built book, served from localhost."""
    with serve(book) as url:
        yield url
