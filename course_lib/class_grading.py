"""Grade a whole class with nbgrader: in parallel, resumable, with feedback and a report.

``grade_class`` runs ``nbgrader autograde`` and ``nbgrader generate_feedback`` once per
student, several students at a time. Each grading thread sends its commands to a long-lived
nbgrader process of its own (:mod:`course_lib.nbgrader_worker`, which saves nbgrader's
seconds of start-up per command); every submission runs in a kernel of its own, so one
broken submission cannot stop the others and a crash loses only the students being graded
at that moment.
A student whose submission is unchanged since it was graded is not graded again (pass
``force`` or name the student to regrade). Everything lands in ``grading/<assignment>/``:

- ``grades.csv``: one row per student: score, maximum, autograded part, failed tests and
  audit flags;
- ``report.md``: per student, which tests failed and why, and what the audit flagged
  (:mod:`course_lib.submission_audit`);
- the outside check (:mod:`course_lib.replay`): where an assignment declares one
  (:mod:`course_lib.outside_checks`), the answers run again without the tests and with the
  graded references disabled (beside nbgrader's run, in a process of their own), and are
  compared with the references in this process; a test
  that passed in the student's kernel while its answer fails there scores zero (a manual
  score of 0 in the gradebook, which the feedback shows, flagged for review);
- ``logs/<student>.log``: nbgrader's output for that student; ``state/<student>.json``: what
  was graded when (this is what makes a second run resume).

The gradebook is the course's SQLite file (or ``db_url``, e.g. PostgreSQL); SQLite is opened
with a generous lock timeout because several nbgrader processes write to it.

Run it as ``python -m course_lib.instructor grade ASSIGNMENT`` (``make grade``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

import course_lib
from course_lib import sandbox
from course_lib.nbgrader_worker import NbgraderWorker
from course_lib.outside_checks import outside_checks
from course_lib.replay import verify_submission
from course_lib.submission_audit import Flag, audit_notebook

__all__ = ["StudentResult", "grade_class", "usable_cores"]

_BIN = Path(sys.executable).parent
# Seconds SQLite waits for another grading process's write to finish before giving up.
_SQLITE_LOCK_TIMEOUT = 300


@dataclass
class StudentResult:
    """How one student's submission was graded."""

    student: str
    status: str  # "graded", "kept" (graded before, unchanged) or "failed"
    score: float | None = None
    max_score: float | None = None
    auto_score: float | None = None
    auto_max_score: float | None = None
    needs_manual_grade: bool = False
    failed_tests: dict[str, str] = field(default_factory=dict)  # grade id -> why
    crashed_cells: list[str] = field(default_factory=list)  # where the kernel died
    answer_errors: dict[str, str] = field(default_factory=dict)  # answer cell -> its error
    withdrawn: dict[str, str] = field(default_factory=dict)  # test passed in-kernel -> why not
    outside_check_error: str = ""  # why the outside check could not run, if it could not
    sandboxed: bool = False
    flags: list[Flag] = field(default_factory=list)
    seconds: float = 0.0
    message: str = ""


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _timestamp(folder: Path) -> str:
    stamp = folder / "timestamp.txt"
    return stamp.read_text().strip() if stamp.is_file() else ""


def _db_url(course_root: Path, db_url: str | None) -> str:
    if db_url is None:
        db_url = f"sqlite:///{(course_root / 'gradebook.db').resolve()}"
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        db_url += ("&" if "?" in db_url else "?") + f"timeout={_SQLITE_LOCK_TIMEOUT}"
    return db_url


class _Workers:
    """One nbgrader worker per grading thread, all closed at the end."""

    def __init__(self, environment: dict[str, str], cwd: Path):
        self.environment, self.cwd = environment, cwd
        self._local = threading.local()
        self._lock = threading.Lock()
        self._started: list[NbgraderWorker] = []

    def get(self) -> NbgraderWorker:
        worker = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._local.worker = NbgraderWorker(self.environment, self.cwd)
            with self._lock:
                self._started.append(worker)
        return worker

    def close(self) -> None:
        with self._lock:
            for worker in self._started:
                worker.close()


@dataclass(frozen=True)
class _Run:
    """What every student's grading shares."""

    assignment: str
    course_root: Path
    out: Path
    db_url: str
    cell_timeout: float | None
    submission_timeout: float
    sandboxed: bool
    policy: sandbox.SandboxPolicy | None = None
    release_folder: str = "assignments"
    workers: _Workers | None = None

    def worker(self) -> NbgraderWorker:
        """This thread's nbgrader worker."""
        return self.workers.get()

    def nbgrader(self, *args: str, runtime_dir: str = "") -> list[str]:
        """The arguments of one nbgrader command (without ``nbgrader``)."""
        config = [f"--CourseDirectory.db_url={self.db_url}"]
        if self.cell_timeout is not None:
            config.append(f"--Execute.timeout={self.cell_timeout:g}")
        if self.sandboxed:
            # The sandboxed kernel has no network: it talks to nbgrader over Unix sockets.
            config += [
                f"--Execute.kernel_name={sandbox.KERNEL_NAME}",
                "--KernelManager.transport=ipc",
                f"--KernelManager.ip={Path(runtime_dir) / 'kernel'}",
            ]
        return [*args, *config]

    def environment(self, runtime_dir: str) -> dict[str, str]:
        jupyter_path = os.pathsep.join(
            p for p in (str(self.out / "jupyter"), os.environ.get("JUPYTER_PATH")) if p
        )
        return {
            **os.environ,
            # nbgrader runs alembic and jupyter by name: this environment's come first.
            "PATH": f"{_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            # One thread per kernel: parallel kernels do not fight over the cores (torch's
            # OpenMP threads slow down a hundredfold when they do), and a result never depends
            # on how many students were graded at once.
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            # On a GPU runner: no TF32 matrix products, deterministic cuBLAS, so that a grade
            # does not depend on the runner.
            "NVIDIA_TF32_OVERRIDE": "0",
            "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
            # Where the sandboxed kernel's spec is, and a private folder for its sockets.
            "JUPYTER_PATH": jupyter_path,
            "JUPYTER_RUNTIME_DIR": runtime_dir,
        }


def _policy(course_root: Path, memory_gib: float | None, cpu_seconds: int | None):
    """Hide the course directory (and the checkout course_lib is installed from, which holds
    solutions/ too), then show the Python environment and course_lib again, read-only."""
    library = Path(course_lib.__file__).resolve().parent
    hidden = {course_root}
    if (library.parent / "pyproject.toml").is_file():  # an editable install
        hidden.add(library.parent)
    needed = {Path(sys.prefix).resolve(), library}
    return sandbox.SandboxPolicy(
        hidden=tuple(sorted(str(p) for p in hidden)),
        readable=tuple(sorted(str(p) for p in needed if any(p.is_relative_to(h) for h in hidden))),
        memory_bytes=int(memory_gib * 2**30) if memory_gib else None,
        cpu_seconds=cpu_seconds,
    )


def _grade_student(run: _Run, student: str) -> StudentResult:
    """Autograde, check outside, and write feedback for one student."""
    start = time.perf_counter()
    log = run.out / "logs" / f"{student}.log"
    # Short and private: Unix socket paths are limited to about 100 characters.
    runtime_dir = tempfile.mkdtemp(prefix=sandbox.RUNTIME_PREFIX)
    try:
        with log.open("w") as out, ThreadPoolExecutor(max_workers=1) as beside:
            # The outside check needs only the submission: it runs while nbgrader grades.
            problems = beside.submit(_outside_problems, run, student, runtime_dir)
            failed = _run_steps(run, student, [("autograde", "--force")], out, runtime_dir)
            withdrawn, outside_error = {}, ""
            if not failed:
                try:
                    withdrawn = _withdraw(run, student, problems.result())
                except Exception as error:  # noqa: BLE001 (grade anyway; the report says so)
                    outside_error = f"{type(error).__name__}: {error}"[:300]
            failed = failed or _run_steps(
                run, student, [("generate_feedback", "--force")], out, runtime_dir
            )
        if failed:
            return StudentResult(
                student,
                "failed",
                seconds=time.perf_counter() - start,
                message=f"{failed}; see {log}",
            )
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)
    seconds = time.perf_counter() - start
    submitted = run.course_root / "submitted" / student / run.assignment
    state = {
        "timestamp": _timestamp(submitted),
        "seconds": round(seconds, 2),
        "withdrawn": withdrawn,
        "outside_check_error": outside_error,
    }
    (run.out / "state" / f"{student}.json").write_text(json.dumps(state) + "\n")
    return StudentResult(student, "graded", seconds=seconds)


def _seed(run: _Run, student: str) -> int:
    """The outside check's seed for one student: fixed across regrades, unknown to students
    (it comes from a secret kept in the grading folder, which kernels cannot see)."""
    secret_file = run.out.parent / ".outside-check-secret"
    if not secret_file.is_file():
        try:
            with os.fdopen(
                os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w"
            ) as file:
                file.write(secrets.token_hex(16))
        except FileExistsError:  # another grading process made it first
            pass
    key = f"{secret_file.read_text().strip()}:{run.assignment}:{student}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)


def _outside_problems(run: _Run, student: str, runtime_dir: str) -> dict[tuple[str, str], str]:
    """Run the outside check: ``(notebook, test) -> why`` for each test whose answer fails."""
    checks = outside_checks(run.assignment)
    if checks is None:
        return {}
    submitted = run.course_root / "submitted" / student / run.assignment
    release = run.course_root / run.release_folder / run.assignment
    problems: dict[tuple[str, str], str] = {}  # (notebook, test) -> why
    for notebook in sorted(submitted.glob("*.ipynb")):
        if not (release / notebook.name).is_file():
            continue
        verdicts = verify_submission(
            notebook,
            release / notebook.name,
            checks,
            seed=_seed(run, student),
            policy=run.policy,
            cell_timeout=run.cell_timeout or 60.0,
            environment=run.environment(runtime_dir),
        )
        for verdict in verdicts:
            for test in verdict.tests:
                if verdict.problem and (notebook.stem, test) not in problems:
                    problems[notebook.stem, test] = verdict.problem
    return problems


def _withdraw(run: _Run, student: str, problems: dict[tuple[str, str], str]) -> dict[str, str]:
    """Withdraw the points of the tests whose answer failed the outside check (and give back
    those an earlier run withdrew). Returns test -> why withdrawn."""
    from nbgrader.api import Gradebook

    state = run.out / "state" / f"{student}.json"
    before = json.loads(state.read_text()).get("withdrawn", {}) if state.is_file() else {}
    withdrawn = {}
    with Gradebook(run.db_url) as gradebook:
        for notebook in gradebook.find_submission(run.assignment, student).notebooks:
            for grade in notebook.grades:
                why = problems.get((notebook.name, grade.name))
                if why and grade.auto_score:
                    grade.manual_score = 0.0
                    grade.needs_manual_grade = True  # for the instructor to look at
                    withdrawn[grade.name] = why
                elif grade.name in before and grade.manual_score == 0.0:
                    # An earlier run withdrew it; this submission passes.
                    grade.manual_score = None
                    grade.needs_manual_grade = False
        gradebook.db.commit()
    return withdrawn


def _run_steps(run: _Run, student: str, steps: list, out, runtime_dir: str) -> str:
    """Run nbgrader steps in this thread's worker; returns what failed, or ''."""
    worker = run.worker()
    for step, *flags in steps:
        argv = run.nbgrader(
            step, run.assignment, "--student", student, *flags, runtime_dir=runtime_dir
        )
        out.flush()
        code = worker.run(
            argv,
            out.name,
            timeout=run.submission_timeout,
            environment={"JUPYTER_RUNTIME_DIR": runtime_dir},
        )
        if code is None:
            step = f"{step} (stopped after {run.submission_timeout:g} s)"
        if code != 0:
            return f"nbgrader {step} failed"
    return ""


def _already_graded(run: _Run, student: str) -> bool:
    state = run.out / "state" / f"{student}.json"
    if not state.is_file():
        return False
    submitted = run.course_root / "submitted" / student / run.assignment
    graded = run.course_root / "autograded" / student / run.assignment
    return graded.is_dir() and json.loads(state.read_text())["timestamp"] == _timestamp(submitted)


def _why_tests_failed(autograded: Path) -> dict[str, str]:
    """Grade id -> the error a test cell ended with (or that it wrote to stderr)."""
    reasons = {}
    for path in sorted(autograded.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    reason = f"{output.ename}: {output.evalue}".strip()
                elif output.output_type == "stream" and output.name == "stderr":
                    reason = "wrote to stderr: " + output.text.strip()
                else:
                    continue
                reasons.setdefault(grade_id, " ".join(reason.split())[:300])
    return reasons


def _read_grades(run: _Run, result: StudentResult) -> None:
    """Fill in the scores and the failed tests from the gradebook and the graded notebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(run.db_url) as gradebook:
        try:
            submission = gradebook.find_submission(run.assignment, result.student)
        except MissingEntry:
            result.status, result.message = "failed", "no grade in the gradebook"
            return
        result.score, result.max_score = submission.score, submission.max_score
        result.needs_manual_grade = submission.needs_manual_grade
        graded = run.course_root / "autograded" / result.student / run.assignment
        reasons = _why_tests_failed(graded)
        result.crashed_cells = [
            cell for cell, why in reasons.items() if why.startswith("DeadKernelError")
        ]
        state = run.out / "state" / f"{result.student}.json"
        recorded = json.loads(state.read_text()) if state.is_file() else {}
        result.withdrawn = recorded.get("withdrawn", {})
        result.outside_check_error = recorded.get("outside_check_error", "")
        auto_score = auto_max = 0.0
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.auto_score is None or grade.cell_type != "code":
                    continue  # written answers and tasks are graded by hand
                # A withdrawn test carries a manual score of 0, which overrides its own.
                score = grade.auto_score if grade.manual_score is None else grade.manual_score
                auto_score += score
                auto_max += grade.max_score
                if grade.name in result.withdrawn:
                    result.failed_tests[grade.name] = (
                        "passed in the student's kernel, failed the outside check: "
                        + result.withdrawn[grade.name]
                    )
                elif score < grade.max_score:
                    result.failed_tests[grade.name] = reasons.get(grade.name, "no output")
        result.auto_score, result.auto_max_score = auto_score, auto_max
        tests = {grade.name for notebook in submission.notebooks for grade in notebook.grades}
        result.answer_errors = {
            cell: why for cell, why in reasons.items() if cell not in tests and cell
        }


def _audit(run: _Run, result: StudentResult) -> None:
    submitted = run.course_root / "submitted" / result.student / run.assignment
    result.flags += [
        Flag("passes a test in its kernel but not outside it", test, why)
        for test, why in result.withdrawn.items()
    ]
    if result.outside_check_error:
        result.flags.append(
            Flag("could not be checked outside its kernel", "", result.outside_check_error)
        )
    checks = outside_checks(run.assignment)
    peers = checks.peers if checks else ()
    for notebook in sorted(submitted.glob("*.ipynb")):
        # The released notebook: its test cells are what the student was given.
        source = run.course_root / run.release_folder / run.assignment / notebook.name
        if not source.is_file():
            result.flags.append(Flag(f"hands in an unknown notebook {notebook.name}", "", ""))
            continue
        try:
            result.flags += audit_notebook(notebook, source, peers)
        except ValueError as error:
            result.flags.append(Flag("is not a readable notebook", notebook.name, str(error)))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _write_outputs(run: _Run, results: list[StudentResult]) -> None:
    with (run.out / "grades.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            [
                "student",
                "status",
                "score",
                "max_score",
                "autograded_score",
                "autograded_max_score",
                "needs_manual_grade",
                "failed_tests",
                "flags",
                "seconds",
            ]
        )
        for r in results:
            writer.writerow(
                [
                    r.student,
                    r.status,
                    _number(r.score),
                    _number(r.max_score),
                    _number(r.auto_score),
                    _number(r.auto_max_score),
                    r.needs_manual_grade,
                    "; ".join(r.failed_tests),
                    "; ".join(sorted({flag.kind for flag in r.flags})),
                    f"{r.seconds:.1f}",
                ]
            )
    lines = [f"# Grading report: {run.assignment}", ""]
    for r in results:
        score = f"{_number(r.score)} / {_number(r.max_score)}" if r.score is not None else "-"
        lines += [f"## {r.student}: {score} ({r.status})", ""]
        if r.message:
            lines.append(f"- **{r.message}**")
        lines += [
            f"- the kernel died in cell `{cell}`; grading went on in a fresh kernel"
            for cell in r.crashed_cells
        ]
        lines += [f"- failed `{test}`: {why}" for test, why in r.failed_tests.items()]
        lines += [
            f"- error in answer cell `{cell}`: {why}"
            for cell, why in r.answer_errors.items()
            if cell not in r.crashed_cells
        ]
        if r.needs_manual_grade:
            lines.append("- written answers await manual grading (formgrader)")
        lines += [f"- flag: {flag}" for flag in r.flags]
        lines.append("")
    (run.out / "report.md").write_text("\n".join(lines))


def grade_class(
    assignment: str,
    course_root: str | Path = ".",
    *,
    students: list[str] | None = None,
    jobs: int | None = None,
    force: bool = False,
    cell_timeout: float | None = None,
    submission_timeout: float = 1800.0,
    db_url: str | None = None,
    sandboxed: bool | None = None,
    memory_gib: float | None = 4.0,
    cpu_seconds: int | None = 3600,
    progress: bool = True,
) -> list[StudentResult]:
    """Autograde every submission of ``assignment``, write feedback, grades and a report.

    Args:
        assignment: The assignment's name (a folder of ``solutions/``, already released, so
            that the gradebook knows it).
        course_root: The course directory, holding ``submitted/<student>/<assignment>/``.
        students: Grade only these (each is graded again even if unchanged).
        jobs: Students graded at once; default: the usable cores.
        force: Grade again students whose submission did not change.
        cell_timeout: Seconds per cell (default: nbgrader_config.py's ``Execute.timeout``).
        submission_timeout: Seconds after which one student's nbgrader run is stopped.
        db_url: The gradebook (default: the course's ``gradebook.db``).
        sandboxed: Run kernels in :mod:`course_lib.sandbox` (no network, no course files);
            None: when the machine allows it, else unsandboxed with a warning; True: required.
        memory_gib: Address-space limit of a sandboxed kernel (None: none; CUDA needs none).
        cpu_seconds: CPU-time limit of a sandboxed kernel over its notebook (None: none).
        progress: Show a progress bar (on stderr).

    Returns:
        One result per student, in student order; also written to ``grading/<assignment>/``.

    Raises:
        ValueError: if nothing was submitted, a named student has no submission, the
            assignment is not in the gradebook, or ``jobs`` is not a positive integer.
        RuntimeError: if ``sandboxed`` is True and the machine cannot sandbox kernels.
    """
    from nbgrader.api import Gradebook, MissingEntry
    from tqdm.auto import tqdm

    course_root = Path(course_root).resolve()
    jobs = usable_cores() if jobs is None else jobs
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer; got {jobs!r}")
    submitted = sorted(
        p.parent.name for p in (course_root / "submitted").glob(f"*/{assignment}") if p.is_dir()
    )
    if not submitted:
        raise ValueError(
            f"nothing submitted for {assignment!r} in {course_root / 'submitted'}; "
            "collect submissions first (make collect)"
        )
    if students:
        unknown = sorted(set(students) - set(submitted))
        if unknown:
            raise ValueError(f"no submission of {assignment!r} for student(s) {unknown}")
    url = _db_url(course_root, db_url)
    try:
        with Gradebook(url) as gradebook:
            gradebook.find_assignment(assignment)
    except MissingEntry:
        raise ValueError(
            f"the gradebook does not know {assignment!r}; release it first "
            f"(make release ASSIGNMENT={assignment})"
        ) from None
    out = course_root / "grading" / assignment
    for folder in ("logs", "state"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    problem = sandbox.sandbox_problem() if sandboxed is not False else None
    if problem and sandboxed:
        raise RuntimeError(f"cannot sandbox the grading kernels: {problem}")
    if problem:
        warnings.warn(
            f"grading WITHOUT a sandbox: {problem}. Submissions run with your permissions.",
            stacklevel=2,
        )
    use_sandbox = sandboxed is not False and problem is None
    policy = _policy(course_root, memory_gib, cpu_seconds) if use_sandbox else None
    if policy is not None:
        sandbox.install_kernel(out / "jupyter", policy)
    run = _Run(
        assignment,
        course_root,
        out,
        url,
        cell_timeout,
        submission_timeout=submission_timeout,
        sandboxed=use_sandbox,
        policy=policy,
    )
    run = replace(run, workers=_Workers(run.environment(tempfile.gettempdir()), course_root))
    chosen = set(students or submitted)
    pending = [
        s for s in submitted if s in chosen and (force or students or not _already_graded(run, s))
    ]
    results = {s: StudentResult(s, "kept") for s in submitted if s not in pending}
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_grade_student, run, student) for student in pending]
            bar = tqdm(
                total=len(futures),
                desc=f"grading {assignment}",
                unit="student",
                disable=not progress,
            )
            for future in as_completed(futures):
                result = future.result()
                results[result.student] = result
                bar.set_postfix_str(f"{result.student}: {result.status}")
                bar.update()
            bar.close()
    finally:
        run.workers.close()
    ordered = [results[s] for s in submitted]
    for result in ordered:
        result.sandboxed = use_sandbox
        if result.status != "failed":
            _read_grades(run, result)
        _audit(run, result)
    _write_outputs(run, ordered)
    return ordered
