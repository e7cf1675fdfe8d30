"""Helpers for the assignment tests: throw-away nbgrader courses built from the repository."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ASSIGNMENTS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())


def source_notebooks(assignment: str) -> list[str]:
    """File names of an assignment's notebooks."""
    return sorted(p.name for p in (REPO / "solutions" / assignment).glob("*.ipynb"))


def run_nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run an nbgrader command in ``course`` (which holds the course's nbgrader_config.py)."""
    return subprocess.run(
        [str(BIN / "nbgrader"), *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        # nbgrader runs tools (alembic, jupyter) by name: this environment's come first.
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )


def new_course(root: Path) -> Path:
    """A course directory with the repository's config and a copy of ``solutions/``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions", root / "solutions")
    return root


def generate(course: Path, assignment: str) -> Path:
    result = run_nbgrader(course, "generate_assignment", assignment, "--force")
    if result.returncode != 0:
        raise AssertionError(f"generate_assignment {assignment} failed:\n{result.stderr}")
    return course / "assignments" / assignment


def completed_copy(release: Path, source: Path, replace: dict[str, str] | None = None):
    """The released notebook with every answer cell taken from the source notebook.

    This is what a student who writes the reference answers hands in. ``replace`` maps a cell's
    grade_id to other source code, to build a submission with a wrong or hostile answer.
    """
    replace = replace or {}
    answers = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nbformat.read(source, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    notebook = nbformat.read(release, as_version=4)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = replace.get(meta["grade_id"], answers[meta["grade_id"]])
    unknown = set(replace) - set(answers)
    if unknown:
        raise KeyError(f"no answer cell with grade_id {sorted(unknown)}")
    return notebook
