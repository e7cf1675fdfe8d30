"""Instructor commands around nbgrader: collect a folder of submissions, grade a class.

Run as ``python -m course_lib.instructor collect ASSIGNMENT SOURCE`` (``make collect``) and
``python -m course_lib.instructor grade ASSIGNMENT [--from SOURCE] [--student ID] [--jobs N]``
(``make grade``; see :mod:`course_lib.class_grading`).
"""

import argparse
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["collect_submissions", "main"]

_STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _released_notebooks(course_root: Path, assignment: str) -> list[str]:
    folder = course_root / "solutions" / assignment
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    if not names:
        raise ValueError(f"assignment {assignment!r} has no notebook in {folder}; check the name")
    return names


def _find_submissions(source: Path) -> dict[str, list[Path]]:
    """Map student id -> notebooks, from ``<student>/**/*.ipynb`` or flat ``<student>.ipynb``."""
    found: dict[str, list[Path]] = {}
    for path in sorted(source.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        relative = path.relative_to(source)
        student = relative.parts[0] if len(relative.parts) > 1 else path.stem
        found.setdefault(student, []).append(path)
    return found


def collect_submissions(
    assignment: str, source: str | Path, course_root: str | Path = "."
) -> dict[str, Path]:
    """Copy submissions into nbgrader's ``submitted/<student>/<assignment>/`` layout.

    Args:
        assignment: Assignment name, a folder of ``solutions/``.
        source: A folder (or a .zip of one) holding ``<student>/<notebook>.ipynb`` files, or
            ``<student>.ipynb`` files side by side as many learning platforms export them.
        course_root: The course directory (the repository root).

    Returns:
        Student id -> the folder the submission was copied to.

    Raises:
        ValueError: if the source holds no notebook, a student id is not a plain name, or a
            student handed in several notebooks for a one-notebook assignment.
    """
    course_root = Path(course_root)
    source = Path(source)
    expected = _released_notebooks(course_root, assignment)
    with tempfile.TemporaryDirectory() as unpacked:
        if source.suffix == ".zip":
            with zipfile.ZipFile(source) as archive:
                archive.extractall(unpacked)
            source = Path(unpacked)
        if not source.is_dir():
            raise ValueError(f"source must be a folder or a .zip of one; got {source}")
        submissions = _find_submissions(source)
        if not submissions:
            raise ValueError(f"source {source} holds no .ipynb file")
        collected = {}
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        for student, notebooks in submissions.items():
            if not _STUDENT_ID.fullmatch(student):
                raise ValueError(f"student id {student!r} must be letters, digits, '.', '_', '-'")
            target = course_root / "submitted" / student / assignment
            target.mkdir(parents=True, exist_ok=True)
            if len(expected) == 1:
                if len(notebooks) != 1:
                    raise ValueError(
                        f"student {student!r} handed in {len(notebooks)} notebooks for "
                        f"{assignment!r}, which has one ({expected[0]}); keep only the right one"
                    )
                # A renamed notebook is still this assignment's only notebook.
                shutil.copyfile(notebooks[0], target / expected[0])
            else:
                for notebook in notebooks:
                    shutil.copyfile(notebook, target / notebook.name)
            (target / "timestamp.txt").write_text(stamp + "\n")
            collected[student] = target
    return collected


# Without a sandbox an instructor must know that submissions run as themselves.
_NO_SANDBOX = """\
WARNING: grading was NOT sandboxed: a hostile notebook could read and write whatever you
can (other students' work, solutions/, the gradebook) and use the network. Install
bubblewrap (make sandbox), or grade in a throw-away container (README, "Grading a class")."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.instructor")
    commands = parser.add_subparsers(dest="command", required=True)
    collect = commands.add_parser("collect", help="copy submissions into submitted/")
    collect.add_argument("assignment")
    collect.add_argument("source", help="folder or .zip of submitted notebooks")
    collect.add_argument("--course-root", default=".")
    grade = commands.add_parser(
        "grade", help="autograde a class in parallel, with feedback, grades.csv and a report"
    )
    grade.add_argument("assignment")
    grade.add_argument("--from", dest="source", help="collect this folder or .zip first")
    grade.add_argument(
        "--student", action="append", help="grade only this student, again (repeatable)"
    )
    grade.add_argument("--jobs", type=int, help="students graded at once (default: cores)")
    grade.add_argument("--force", action="store_true", help="regrade unchanged submissions")
    grade.add_argument("--timeout", type=float, help="seconds per cell (default: config)")
    grade.add_argument(
        "--sandbox", action="store_true", help="fail instead of grading without a sandbox"
    )
    grade.add_argument(
        "--memory-gib",
        type=float,
        default=4.0,
        help="memory limit of a sandboxed kernel (default 4; 0: none, for CUDA runners)",
    )
    grade.add_argument("--course-root", default=".")
    return parser


def _grade(args: argparse.Namespace) -> int:
    from course_lib.class_grading import grade_class

    if args.source:
        collected = collect_submissions(args.assignment, args.source, args.course_root)
        print(f"collected {len(collected)} submission(s) of {args.assignment}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = grade_class(
            args.assignment,
            args.course_root,
            students=args.student,
            jobs=args.jobs,
            force=args.force,
            cell_timeout=args.timeout,
            sandboxed=True if args.sandbox else None,
            memory_gib=args.memory_gib or None,
        )
    for warning in caught:
        print(f"WARNING: {warning.message}", file=sys.stderr)
    if results and not results[0].sandboxed:
        print(_NO_SANDBOX, file=sys.stderr)
    else:
        print("kernels were sandboxed: no network, no course files (course_lib.sandbox)")
    for r in results:
        score = f"{r.score:g}/{r.max_score:g}" if r.score is not None else "-"
        flags = f", {len(r.flags)} flag(s)" if r.flags else ""
        if r.withdrawn:
            flags += f", {len(r.withdrawn)} test(s) failed outside the kernel"
        print(f"{r.student}: {score} ({r.status}{flags}){' ' + r.message if r.message else ''}")
    out = Path(args.course_root) / "grading" / args.assignment
    print(f"grades: {out / 'grades.csv'}; report: {out / 'report.md'}; feedback: feedback/")
    return 1 if any(r.status == "failed" for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "grade":
            return _grade(args)
        collected = collect_submissions(args.assignment, args.source, args.course_root)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for student, folder in collected.items():
        print(f"{student}: {folder}")
    print(f"collected {len(collected)} submission(s) of {args.assignment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
