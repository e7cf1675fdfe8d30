"""The book builds with warnings as errors, every chapter executed, and no error on any page."""

from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests.book_site import chapters, toc_files

pytestmark = pytest.mark.slow

TOC_FILES = toc_files()
CHAPTERS = chapters()


def _page(book: Path, file: str) -> BeautifulSoup:
    path = book / f"{file}.html"
    assert path.is_file(), f"{file} was not built"
    return BeautifulSoup(path.read_text(), "html.parser")


def test_chapters_exist():
    assert CHAPTERS, "the table of contents lists no executable chapter"


@pytest.mark.parametrize("file", TOC_FILES)
def test_page_has_no_error_output(book, file):
    page = _page(book, file)
    main = page.find("main") or page
    assert "Traceback (most recent call last)" not in main.get_text(), f"{file} shows a traceback"
    outputs = " ".join(output.get_text() for output in main.select(".cell_output"))
    for marker in ("Error", "Warning", "NotImplemented"):
        assert marker not in outputs, f"an output of {file} shows {marker!r}"
    assert not main.select(".output.error, .output.traceback, .output.stderr"), file


@pytest.mark.parametrize("file", CHAPTERS)
def test_chapter_was_executed_and_its_figures_exist(book, file):
    page = _page(book, file)
    outputs = page.select(".cell_output")
    assert outputs, f"{file} has no cell output: was it executed?"
    images = page.select(".cell_output img")
    assert images, f"{file} shows no figure"
    for image in images:
        src = image["src"]
        assert not src.startswith("http"), f"{file} loads an image from the network: {src}"
        target = (book / file).parent / src
        assert target.is_file() and target.stat().st_size > 1000, f"{file}: {src} is missing"


@pytest.mark.parametrize("file", CHAPTERS)
def test_chapter_math_is_marked_for_typesetting(book, file):
    page = _page(book, file)
    assert page.select(".math"), f"{file} has no math for MathJax to typeset"
    assert any("mathjax" in (s.get("src") or "").lower() for s in page.find_all("script"))


def test_figures_are_numbered_and_referenced(book):
    page = _page(book, "book/maximum_likelihood")
    captions = [c.get_text(" ", strip=True) for c in page.select("figcaption")]
    assert captions and all(c.startswith("Fig.") for c in captions), captions
    assert page.select("a.reference.internal span.std-numref"), "no numbered figure reference"


def test_bibliography_lists_cited_works(book):
    text = _page(book, "book/bibliography").get_text()
    for author in ("McFadden", "Rezende", "Papamakarios"):
        assert author in text
