"""The course's own operations: building the book, executing chapters, autograding.

Issue #11, part 3 (its cheap subset), measured in throw-away copies so the repository's
``_build`` and gradebook are never touched:

* ``book``: a cold ``jupyter-book build`` (as ``make book`` runs it) of a copy of the
  working tree without ``_build``, then a warm one (the same command again). The cold
  build executes every chapter; the execution cache records each chapter's seconds, kept
  as ``chapter_seconds/<file>``. The appendix page itself is executed on every build and is
  not in the cache.
* ``autograde/<assignment>``: the reference answers of ``SUBMISSIONS`` students, collected
  and autograded by ``nbgrader autograde`` (one job: nbgrader grades one submission at a
  time), with the helpers of ``tests/assignments/nbgrader_course.py``.

Subprocesses inherit ``OMP_NUM_THREADS`` from the runner's ``--threads``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cases import Case, Options
from benchmarks.machine import REPO

__all__ = ["NAME", "cases", "settings"]

NAME = "course_operations"
DESCRIPTION = (
    "Seconds of a cold and a warm book build, of each chapter's execution, and of "
    "autograding one submission, on this machine (issue #11, part 3)."
)
FULL_ONLY = True
BOOK_FLAGS = ("-W", "-n", "--keep-going")
SUBMISSIONS = 2
COURSE_ID = "deep-probabilistic-models"  # as in nbgrader_config.py
BUILD_TIMEOUT = 1800
UNITS = {
    "cold_build_seconds": "s",
    "warm_build_seconds": "s",
    "chapter_seconds": "s",
    "autograde_seconds": "s",
    "seconds_per_submission": "s",
}
_BIN = Path(sys.executable).parent


def settings(options: Options) -> dict:
    return {
        "book_command": " ".join(["jupyter-book", "build", "<copy>", *BOOK_FLAGS]),
        "cold": "a copy of the working tree (git's tracked and unignored files) without _build",
        "warm": "the same command again in the same copy",
        "submissions_per_assignment": SUBMISSIONS,
        "autograde_jobs": 1,
        "subprocess_threads": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
    }


def _working_tree_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def _copy_working_tree(target: Path) -> None:
    """The files a clone with the local changes would have; the environment is linked."""
    for name in _working_tree_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, destination)
    # The build uses the environment's bundled MathJax (.venv/book-assets); link, not copy.
    (target / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)


def _build(book: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [str(_BIN / "jupyter-book"), "build", ".", *BOOK_FLAGS],
        cwd=book,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"the book build failed or warned:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return seconds


def _chapter_seconds(book: Path) -> dict[str, float]:
    """Execution seconds of each chapter, from the build's jupyter-cache records."""
    from jupyter_cache import get_cache

    cache = get_cache(book / "_build" / ".jupyter_cache")
    seconds = {}
    for record in cache.list_cache_records():
        runtime = (record.data or {}).get("execution_seconds")
        if runtime is not None:
            file = Path(record.uri).resolve().relative_to(book.resolve()).with_suffix("")
            seconds[f"chapter_seconds/{file.as_posix()}"] = float(runtime)
    return seconds


def _measure_book() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-book-") as folder:
        book = Path(folder)
        _copy_working_tree(book)
        cold = _build(book)
        chapters = _chapter_seconds(book)
        warm = _build(book)
    return {
        "figures": {"cold_build_seconds": cold, "warm_build_seconds": warm, **chapters},
        "info": {"chapters": sorted(name.split("/", 1)[1] for name in chapters)},
    }


def _assignment_helpers():
    folder = str(REPO / "tests" / "assignments")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import nbgrader_course

    return nbgrader_course


def _measure_autograde(assignment: str) -> dict:
    import nbformat

    from course_lib.instructor import collect_submissions

    helpers = _assignment_helpers()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
        course = helpers.new_course(Path(folder) / "course")
        release = helpers.generate(course, assignment)
        drop = Path(folder) / "submissions"
        notebooks = helpers.source_notebooks(assignment)
        students = [f"student_{k}" for k in range(1, SUBMISSIONS + 1)]
        for student in students:
            for notebook in notebooks:
                source = course / "solutions" / assignment / notebook
                target = drop / student / notebook
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(helpers.completed_copy(release / notebook, source), target)
        collect_submissions(assignment, drop, course)
        start = time.perf_counter()
        result = helpers.run_nbgrader(course, "autograde", assignment, "--force")
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader autograde failed:\n{result.stderr[-2000:]}")
        scores = _scores(course, assignment, students)
    return {
        "figures": {
            "autograde_seconds": seconds,
            "seconds_per_submission": seconds / len(students),
        },
        "info": {
            "submissions": len(students),
            "notebooks": notebooks,
            "jobs": 1,
            "full_marks": all(score == maximum for score, maximum in scores.values()),
        },
    }


def _scores(course: Path, assignment: str, students: list[str]) -> dict[str, tuple]:
    """Points and maximum over the autograded test cells of each student's submission.

    Manually graded cells are left out: the reference answers must earn every automatic point.
    """
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        for student in students:
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry as error:
                raise RuntimeError(f"{student}'s submission was not autograded") from error
            grades = [
                grade
                for notebook in submission.notebooks
                for grade in notebook.grades
                if grade.cell.cell_type == "code" and grade.auto_score is not None
            ]
            scores[student] = (
                sum(g.auto_score for g in grades),
                sum(g.max_score for g in grades),
            )
    return scores


def cases(options: Options) -> list[Case]:
    assignments = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
    book = Case("book", _measure_book, {"operation": "jupyter-book build"})
    grading = [
        Case(
            f"autograde/{assignment}",
            lambda assignment=assignment: _measure_autograde(assignment),
            {"operation": "nbgrader autograde", "assignment": assignment},
        )
        for assignment in assignments
    ]
    return [book, *grading]
