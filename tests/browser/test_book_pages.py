"""Every page of the book, as a reader's browser shows it: no errors, typeset math, figures.

Each page's first screen is saved under `_build/browser-screenshots/` to look at.
"""

import re

import pytest
from browser_checks import open_page, page_problems
from playwright.sync_api import expect

from tests.book_site import REPO, toc_files

pytestmark = pytest.mark.slow

SCREENSHOTS = REPO / "_build" / "browser-screenshots"
PAGES = toc_files()


@pytest.mark.parametrize("file", PAGES)
def test_page_shows_no_problem(browser, book_url, file):
    page, log = open_page(browser, f"{book_url}{file}.html")
    try:
        problems = page_problems(page, log)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{file.replace('/', '_')}.png")
        assert not problems, f"{file}:\n" + "\n".join(problems)
        expect(page.locator("article h1").first).to_be_visible()
    finally:
        page.close()


def test_left_navigation_reaches_every_page(page, book_url):
    """From the front page, a click on each entry of the left sidebar opens that page."""
    root, *others = PAGES
    for file in others:
        page.goto(f"{book_url}{root}.html")
        target = f"{file.split('/')[-1]}.html"
        link = page.locator("nav.bd-docs-nav").locator(f'a[href$="{target}"]')
        assert link.count() == 1, f"the left navigation has no single link to {file}"
        title = link.inner_text().strip()
        link.click()
        page.wait_for_url(f"**/{file}.html")
        expect(page.locator("article h1").first).to_contain_text(title)


def test_search_finds_a_term_of_chapter_one(page, book_url):
    """The search box, typed into as a reader does, lists the first chapter for "logit"."""
    page.goto(f"{book_url}{PAGES[0]}.html")
    page.locator("button.search-button__button:visible").first.click()
    box = page.locator("#pst-search-dialog input[name=q]")
    expect(box).to_be_visible()
    box.fill("logit")
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q=logit"))
    hit = page.locator('#search-results a[href*="maximum_likelihood"]').first
    expect(hit).to_be_visible(timeout=30_000)
    hit.click()
    page.wait_for_url(re.compile(r"maximum_likelihood\.html"))
    expect(page.locator("main")).to_contain_text("logit")
