"""The page checks see real defects: a copy of the built book is broken on purpose, page by page.

Each case copies the HTML to a temporary folder, damages one chapter the way a real defect
would (a missing figure file, TeX that MathJax never saw, MathJax missing, an error in a cell
output) and asserts that the checks of tests/browser/test_book_pages.py report it.
"""

import re
import shutil

import pytest
from browser_checks import open_page, page_problems, serve

from tests.book_site import chapters

pytestmark = pytest.mark.slow

CHAPTER = chapters()[0]
ERROR_OUTPUT = """
<div class="cell_output docutils container">
<div class="output traceback highlight-ipythontb notranslate"><div class="highlight"><pre>
NotImplementedError                       Traceback (most recent call last)
Cell In[3], line 1
----&gt; 1 logit_nll(eta, y)
NotImplementedError: </pre></div></div>
</div>
"""


def _first_figure(html: str) -> str:
    match = re.search(r'<figure[^>]*>\s*<img[^>]*src="([^"]+)"', html)
    assert match, f"{CHAPTER} has no figure to break"
    return match.group(1)


def _remove_a_figure_file(site, html):
    src = _first_figure(html)
    (site / CHAPTER).parent.joinpath(src).resolve().unlink()
    return html, "figure: image did not load"


def _insert_raw_tex(site, html):
    # Where the chapter's text is (MathJax only typesets the elements Sphinx marked as math),
    # as if `$$` had not been parsed as math.
    heading_end = html.index("</h1>", html.index('<article class="bd-article">')) + len("</h1>")
    paragraph = "<p>An equation MathJax never saw: $$x^2 + y^2$$.</p>"
    broken = html[:heading_end] + paragraph + html[heading_end:]
    return broken, "math: raw TeX in the visible text"


def _remove_mathjax(site, html):
    shutil.rmtree(site / "_static" / "mathjax")
    return html, "math: MathJax did not start"


def _add_an_error_output(site, html):
    first_output_end = html.index('<div class="cell_output docutils container">')
    broken = html[:first_output_end] + ERROR_OUTPUT + html[first_output_end:]
    return broken, "output: "


BREAKAGES = {
    "missing figure file": _remove_a_figure_file,
    "raw TeX": _insert_raw_tex,
    "error output": _add_an_error_output,
}


@pytest.fixture
def site(book, tmp_path):
    """A copy of the built book that a test may break."""
    return shutil.copytree(book, tmp_path / "html")


def test_the_unbroken_copy_shows_no_problem(browser, site):
    with serve(site) as url:
        page, log = open_page(browser, f"{url}{CHAPTER}.html")
        problems = page_problems(page, log)
        page.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_checks_report_a_broken_chapter(browser, site, breakage):
    path = site / f"{CHAPTER}.html"
    html, expected = BREAKAGES[breakage](site, path.read_text())
    path.write_text(html)
    with serve(site) as url:
        page, log = open_page(browser, f"{url}{CHAPTER}.html")
        problems = page_problems(page, log)
        page.close()
    assert any(problem.startswith(expected) for problem in problems), (
        f"breaking {CHAPTER} ({breakage}) went unnoticed; the checks reported: {problems}"
    )


def test_checks_report_a_chapter_without_mathjax(browser, site):
    """Without MathJax the reader sees TeX source: every check that can tell, tells."""
    _remove_mathjax(site, "")
    with serve(site) as url:
        page, log = open_page(browser, f"{url}{CHAPTER}.html")
        problems = page_problems(page, log)
        page.close()
    kinds = {problem.split(":")[0] for problem in problems}
    assert kinds >= {"math", "console"}, problems
    assert any(problem.startswith("math: MathJax did not start") for problem in problems)
    assert any("were not typeset" in problem for problem in problems), problems
    assert any("raw TeX" in problem for problem in problems), problems
