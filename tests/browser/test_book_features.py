"""What readers use besides the text: downloads, launch links, copy buttons, numbered references,
the bibliography and the assignments page, each used in the browser as a reader would."""

import re

import jupytext
import nbformat
import pytest
import yaml
from browser_checks import open_page, page_problems, serve
from playwright.sync_api import expect

from tests.book_site import REPO, build_book, chapters

pytestmark = pytest.mark.slow

CHAPTERS = chapters()
ORG_REPO = "deep-probabilistic-models/course"


def _download_links(page) -> dict[str, str]:
    """Label -> href of the entries of the page's download menu, opened by a click."""
    page.locator(".dropdown-download-buttons button.dropdown-toggle").click()
    items = page.locator(".dropdown-download-buttons .dropdown-menu a")
    expect(items.first).to_be_visible()
    return {item.inner_text().strip(): item.get_attribute("href") for item in items.all()}


def _check_notebook_download(page, file: str) -> None:
    """The .ipynb entry of the open download menu downloads a notebook with the chapter's code.

    It has the cells' outputs only if the build executed the chapter: myst-nb 1.4 writes it
    without them when the chapter comes from the execution cache.
    """
    with page.expect_download() as download:
        page.locator(".dropdown-download-buttons a", has_text=".ipynb").click()
    notebook = nbformat.read(download.value.path(), as_version=4)
    nbformat.validate(notebook)
    source = jupytext.read(REPO / f"{file}.md")
    assert [cell.source for cell in notebook.cells if cell.cell_type == "code"] == [
        cell.source for cell in source.cells if cell.cell_type == "code"
    ], f"{file}.ipynb does not hold the chapter's code"


@pytest.mark.parametrize("file", CHAPTERS)
def test_chapter_downloads_as_notebook_and_source(page, book_url, file):
    """The download menu offers the chapter as a notebook (book/_ext/notebook_download.py),
    as its MyST source (JupyterLab opens it as a notebook through jupytext) and as a PDF."""
    page.goto(f"{book_url}{file}.html")
    links = _download_links(page)
    assert {".ipynb", ".md"} <= set(links), links
    expect(page.locator(".dropdown-download-buttons .btn-download-pdf-button")).to_be_visible()
    response = page.request.get(page.url.rsplit("/", 1)[0] + "/" + links[".md"])
    assert response.ok, f"{links['.md']}: HTTP {response.status}"
    source = response.text()
    assert source == (REPO / f"{file}.md").read_text(), "the .md download is not the chapter"
    assert "```{code-cell}" in source
    _check_notebook_download(page, file)


def test_launch_buttons_are_off_by_default(page, book_url):
    page.goto(f"{book_url}{CHAPTERS[0]}.html")
    expect(page.locator(".dropdown-launch-buttons")).to_have_count(0)


@pytest.fixture(scope="module")
def launch_book(book, tmp_path_factory):
    """The book built with JupyterHub and Binder launch URLs set, as an instructor would."""
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config["launch_buttons"].update(
        binderhub_url="https://mybinder.org", jupyterhub_url="https://hub.example.org"
    )
    # Local extension folders are found relative to the configuration file.
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {
        name: str(REPO / path) for name, path in extensions.items()
    }
    folder = tmp_path_factory.mktemp("launch-book")
    (folder / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    # Same sources and execution cache as the real build: only the configuration differs.
    result = build_book("--config", str(folder / "_config.yml"), "--path-output", str(folder))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "_build" / "html"


def test_launch_buttons_open_the_chapter_in_jupyterlab(browser, launch_book):
    file = CHAPTERS[0]
    with serve(launch_book) as url:
        page, log = open_page(browser, f"{url}{file}.html")
        try:
            assert not page_problems(page, log)
            page.locator(".dropdown-launch-buttons button.dropdown-toggle").click()
            links = {
                item.inner_text().strip(): item.get_attribute("href")
                for item in page.locator(".dropdown-launch-buttons .dropdown-menu a").all()
            }
        finally:
            page.close()
    assert links == {
        "Binder": f"https://mybinder.org/v2/gh/{ORG_REPO}/main?urlpath=lab/tree/{file}.md",
        "JupyterHub": "https://hub.example.org/hub/user-redirect/git-pull?"
        f"repo=https%3A//github.com/{ORG_REPO}&urlpath=lab/tree/course/{file}.md&branch=main",
    }


def test_with_launch_buttons_chapters_still_download_as_notebooks(browser, launch_book):
    """With launch URLs set the theme adds the .ipynb itself; the menu offers it once."""
    with serve(launch_book) as url:
        for file in CHAPTERS:
            page, _ = open_page(browser, f"{url}{file}.html")
            try:
                links = _download_links(page)
                menu = page.locator(".dropdown-download-buttons .dropdown-menu a")
                labels = [item.inner_text().strip() for item in menu.all()]
                assert labels.count(".ipynb") == 1, f"{file}: {links}"
                _check_notebook_download(page, file)
            finally:
                page.close()


def test_copy_button_copies_the_code_of_a_cell(page, book_url):
    page.goto(f"{book_url}{CHAPTERS[0]}.html")
    cell = page.locator(".cell_input").filter(has=page.locator("pre:visible")).first
    cell.hover()
    button = cell.locator("button.copybtn")
    expect(button).to_be_visible()
    button.click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    shown = cell.locator("pre").inner_text()
    assert copied.strip() == shown.strip()
    assert "import" in copied


def test_figures_and_equations_are_numbered_through_the_book(page, book_url):
    """Sphinx numbers figures and equations across the whole book, in table-of-contents order
    (no numbered sections): 1, 2, ... with no gap, no repeat, and every chapter has figures."""
    figures, equations = [], []
    for file in CHAPTERS:
        page.goto(f"{book_url}{file}.html")
        captions = page.locator("figure figcaption .caption-number").all_inner_texts()
        assert captions, f"{file} has no numbered figure"
        figures += [caption.strip() for caption in captions]
        equations += [
            re.match(r"\(\d+\)", number).group(0)
            for number in page.locator("div.math .eqno").all_inner_texts()
        ]
    assert figures == [f"Fig. {n}" for n in range(1, len(figures) + 1)], figures
    assert equations == [f"({n})" for n in range(1, len(equations) + 1)], equations


@pytest.mark.parametrize("kind", ["fig", "equation"])
def test_clicking_a_reference_lands_on_its_target(page, book_url, kind):
    """A numbered reference to a figure or an equation scrolls to it, wherever it is."""
    for file in CHAPTERS:
        page.goto(f"{book_url}{file}.html")
        links = page.locator(f'article a.reference.internal[href^="#{kind}-"]')
        if links.count() == 0:
            continue
        # The last reference on the page, so that the target is far from the reader.
        link = links.last
        target = link.get_attribute("href")[1:]
        label = link.inner_text().strip()
        link.click()
        page.wait_for_url(f"**#{target}")
        landed = page.locator(f"[id='{target}']")
        expect(landed).to_be_in_viewport()
        number = landed.locator(".caption-number, .eqno").first.inner_text()
        assert label.split()[-1] in number, f"{file}: {label!r} leads to {number!r}"
        return
    pytest.fail(f"no chapter references a numbered {kind}")


def test_citation_leads_to_the_bibliography(page, book_url):
    page.goto(f"{book_url}{CHAPTERS[0]}.html")
    citation = page.locator("article .bibtex-citation a").first
    author = citation.inner_text().split()[0].strip("[,")
    citation.click()
    page.wait_for_url(re.compile(r"bibliography\.html#"))
    entry = page.locator(f"[id='{page.url.split('#')[1]}']")
    expect(entry).to_be_in_viewport()
    expect(entry).to_contain_text(author)
    entries = page.locator("article .citation, article [role='doc-biblioentry']")
    assert entries.count() >= 3


def test_assignments_page_walks_through_validate(page, book_url):
    """The page students are sent to: the commands the student workflow test runs are there."""
    page.goto(f"{book_url}book/assignments_howto.html")
    text = page.locator("article").inner_text()
    for step in (
        "make install",
        ".venv/bin/jupyter lab assignments/",
        "Restart Kernel and Run All Cells",
        "Validate",
        "nbgrader validate assignments/logit_mle/logit_mle.ipynb",
        "Success! Your notebook passes all the tests.",
    ):
        assert step in text, f"the assignments page no longer says {step!r}"
    # The command blocks have copy buttons, as code cells do.
    assert page.locator("article div.highlight button.copybtn").count() >= 3
