"""The built book: its pages in table-of-contents order, and the build that `make book` runs."""

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
BOOK_FLAGS = ("-W", "-n", "--keep-going")
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
# Where `make mathjax` puts MathJax; _config.yml serves it from the book's _static/mathjax.
MATHJAX = REPO / ".venv" / "book-assets" / "_static" / "mathjax" / "tex-mml-chtml.js"


def toc_files() -> list[str]:
    """Every page of the table of contents, root first, as paths without suffix."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def chapters() -> list[str]:
    """The pages that are notebooks (MyST Markdown with code cells)."""
    return [f for f in toc_files() if "```{code-cell}" in (REPO / f"{f}.md").read_text()]


def build_book(*extra: str) -> subprocess.CompletedProcess:
    """`make book`'s build, with ``extra`` arguments (another config, another output folder)."""
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", ".", *BOOK_FLAGS, *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
