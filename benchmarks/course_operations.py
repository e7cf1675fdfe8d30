"""The course's own operations: building the book, executing chapters, autograding.

Issue #11, part 3 (its cheap subset), measured in throw-away copies so the repository's
``_build`` and gradebook are never touched:

* ``book``: a cold ``jupyter-book build`` (as ``make book`` runs it) of a copy of the
  working tree without ``_build``, then a warm one (the same command again). The cold
  build executes every chapter; the execution cache records each chapter's seconds, kept
  as ``chapter_seconds/<file>``. The appendix page itself is executed on every build and is
  not in the cache.
* ``autograde/<assignment>``: the reference answers of ``SUBMISSIONS`` students, collected
  and graded by ``make grade``'s engine (:func:`course_lib.class_grading.grade_class`, which
  also writes feedback and the report) with 1 and then 2 jobs, sandboxed where the machine
  allows, with the helpers of ``tests/assignments/nbgrader_course.py``.
* ``class/<assignment>``: a synthetic class of ``CLASS_SIZE`` submissions (the reference
  answers, a plausible wrong answer and the empty stub, mixed 7:2:1) graded with 2 jobs, as
  ``make grade`` does for a real class (issue #9).
* ``test_suite``: the seconds of the whole test suite (``make test``'s pytest run, with the
  environment and system packages already installed), and how many tests it ran.
* ``sandbox``: the isolation overhead per submission: starting a sandboxed kernel, running
  one cell and stopping it, against a plain kernel (issue #9's goal: under 1 s).

Subprocesses inherit ``OMP_NUM_THREADS`` from the runner's ``--threads``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cases import Case, CaseSkipped, Options
from benchmarks.machine import REPO

__all__ = ["NAME", "cases", "settings"]

NAME = "course_operations"
DESCRIPTION = (
    "Seconds of a cold and a warm book build, of each chapter's execution, of grading one "
    "submission with 1 and 2 jobs, and of the grading sandbox, on this machine "
    "(issues #9 and #11)."
)
FULL_ONLY = True
BOOK_FLAGS = ("-W", "-n", "--keep-going")
SUBMISSIONS = 4
CLASS_SIZE = 200
CLASS_ASSIGNMENT = "logit_mle"
JOBS = (1, 2)  # issue #9's goal: at least 1.7x faster with 2 jobs on 2 cores
COURSE_ID = "deep-probabilistic-models"  # as in nbgrader_config.py
BUILD_TIMEOUT = 1800
UNITS = {
    "cold_build_seconds": "s",
    "warm_build_seconds": "s",
    "chapter_seconds": "s",
    "autograde_seconds": "s",
    "seconds_per_submission": "s",
    "seconds_per_submission_2_jobs": "s",
    "submissions_per_minute": "1/min",
    "submissions_per_minute_2_jobs": "1/min",
    "speedup_2_jobs": "x",
    "test_suite_seconds": "s",
    "class_seconds": "s",
    "class_seconds_per_submission": "s",
    "class_submissions_per_minute": "1/min",
    "plain_kernel_seconds": "s",
    "sandboxed_kernel_seconds": "s",
    "isolation_overhead_seconds": "s",
}
_BIN = Path(sys.executable).parent


def settings(options: Options) -> dict:
    return {
        "book_command": " ".join(["jupyter-book", "build", "<copy>", *BOOK_FLAGS]),
        "cold": "a copy of the working tree (git's tracked and unignored files) without _build",
        "warm": "the same command again in the same copy",
        "submissions_per_assignment": SUBMISSIONS,
        "autograde_jobs": list(JOBS),
        "autograde_engine": "course_lib.class_grading.grade_class (make grade)",
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
    """A class of SUBMISSIONS reference answers graded by `make grade`'s engine with 1, then
    2 jobs (everyone again), in the sandbox where the machine has one."""
    import nbformat

    from course_lib.class_grading import grade_class
    from course_lib.instructor import collect_submissions
    from course_lib.sandbox import sandbox_problem

    helpers = _assignment_helpers()
    sandboxed = sandbox_problem() is None
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
        seconds = {}
        for jobs in JOBS:
            start = time.perf_counter()
            results = grade_class(
                assignment, course, jobs=jobs, force=True, sandboxed=sandboxed, progress=False
            )
            seconds[jobs] = time.perf_counter() - start
            failed = [r.student for r in results if r.status != "graded"]
            if failed:
                raise RuntimeError(f"grading failed for {failed}; see {course / 'grading'}")
        scores = _scores(course, assignment, students)
    one, two = (seconds[jobs] for jobs in JOBS)
    return {
        "figures": {
            "autograde_seconds": one,
            "seconds_per_submission": one / len(students),
            "seconds_per_submission_2_jobs": two / len(students),
            "submissions_per_minute": 60 * len(students) / one,
            "submissions_per_minute_2_jobs": 60 * len(students) / two,
            "speedup_2_jobs": one / two,
        },
        "info": {
            "submissions": len(students),
            "notebooks": notebooks,
            "jobs": list(JOBS),
            "sandboxed": sandboxed,
            "full_marks": all(score == maximum for score, maximum in scores.values()),
        },
    }


def _class_submission(helpers, release: Path, source: Path, k: int, assignment: str):
    """Student k of the synthetic class: reference, wrong or empty, mixed 7:2:1."""
    import nbformat
    from wrong_answers import WRONG_ANSWERS

    kind = k % 10
    if kind == 9:
        return nbformat.read(release, as_version=4)
    if kind >= 7 and WRONG_ANSWERS.get(assignment):
        answers, _ = next(iter(WRONG_ANSWERS[assignment].values()))
        return helpers.completed_copy(release, source, answers)
    return helpers.completed_copy(release, source)


def _measure_class(assignment: str) -> dict:
    """A synthetic class of CLASS_SIZE submissions graded by `make grade`'s engine, 2 jobs."""
    import nbformat

    from course_lib.class_grading import grade_class
    from course_lib.instructor import collect_submissions
    from course_lib.sandbox import sandbox_problem

    helpers = _assignment_helpers()
    sandboxed = sandbox_problem() is None
    with tempfile.TemporaryDirectory(prefix="bench-class-") as folder:
        course = helpers.new_course(Path(folder) / "course")
        release = helpers.generate(course, assignment)
        drop = Path(folder) / "submissions"
        students = [f"student_{k:03d}" for k in range(CLASS_SIZE)]
        for k, student in enumerate(students):
            for notebook in helpers.source_notebooks(assignment):
                source = course / "solutions" / assignment / notebook
                target = drop / student / notebook
                target.parent.mkdir(parents=True, exist_ok=True)
                submission = _class_submission(helpers, release / notebook, source, k, assignment)
                nbformat.write(submission, target)
        collect_submissions(assignment, drop, course)
        start = time.perf_counter()
        results = grade_class(assignment, course, jobs=2, sandboxed=sandboxed, progress=False)
        seconds = time.perf_counter() - start
        failed = [r.student for r in results if r.status != "graded"]
        if failed:
            raise RuntimeError(f"grading failed for {failed}; see {course / 'grading'}")
        full = sum(r.auto_score == r.auto_max_score for r in results)
    return {
        "figures": {
            "class_seconds": seconds,
            "class_seconds_per_submission": seconds / CLASS_SIZE,
            "class_submissions_per_minute": 60 * CLASS_SIZE / seconds,
        },
        "info": {
            "submissions": CLASS_SIZE,
            "jobs": 2,
            "sandboxed": sandboxed,
            "full_marks": full,
            "mix": "reference 7 : wrong answer 2 : empty stub 1",
        },
    }


def _measure_test_suite() -> dict:
    """`make test`'s pytest run, in the repository, with its own outcome summary."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=2 * BUILD_TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - start
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0:
        raise RuntimeError(f"the test suite failed: {summary}")
    return {"figures": {"test_suite_seconds": seconds}, "info": {"summary": summary}}


def _kernel_round_trip(kernel_name: str, ip: str) -> float:
    """Seconds to start a kernel, run one cell and shut it down."""
    from jupyter_client.manager import KernelManager

    start = time.perf_counter()
    manager = KernelManager(kernel_name=kernel_name, transport="ipc", ip=ip)
    manager.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        client.execute_interactive("x = 1", timeout=120)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return time.perf_counter() - start


def _measure_sandbox() -> dict:
    """What isolation costs a submission: a sandboxed kernel's start, one cell and shutdown,
    against a plain kernel's (each submission starts one kernel)."""
    from course_lib import sandbox

    problem = sandbox.sandbox_problem()
    if problem:
        raise CaseSkipped(f"no sandbox on this machine: {problem}")
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as folder:
        data = Path(folder) / "jupyter"
        policy = sandbox.SandboxPolicy(hidden=(str(REPO),), readable=(sys.prefix,))
        sandbox.install_kernel(data, policy)
        sockets = Path(tempfile.mkdtemp(prefix=sandbox.RUNTIME_PREFIX))
        saved = {name: os.environ.get(name) for name in ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR")}
        os.environ.update(JUPYTER_PATH=str(data), JUPYTER_RUNTIME_DIR=str(sockets))
        try:
            plain = [_kernel_round_trip("python3", str(sockets / "p")) for _ in range(3)]
            boxed = [_kernel_round_trip(sandbox.KERNEL_NAME, str(sockets / "s")) for _ in range(3)]
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.update({name: value})
            shutil.rmtree(sockets, ignore_errors=True)
    plain_s, boxed_s = statistics.median(plain), statistics.median(boxed)
    return {
        "figures": {
            "plain_kernel_seconds": plain_s,
            "sandboxed_kernel_seconds": boxed_s,
            "isolation_overhead_seconds": boxed_s - plain_s,
        }
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
    whole_class = Case(
        f"class/{CLASS_ASSIGNMENT}",
        lambda: _measure_class(CLASS_ASSIGNMENT),
        {"operation": "make grade", "assignment": CLASS_ASSIGNMENT, "submissions": CLASS_SIZE},
    )
    suite = Case("test_suite", _measure_test_suite, {"operation": "pytest (make test)"})
    isolation = Case("sandbox", _measure_sandbox, {"operation": "grading kernel start"})
    return [book, *grading, whole_class, suite, isolation]
