"""Check a submission's answers outside its kernel, with the graded references out of reach.

nbgrader runs the test cells in the student's kernel, after the student's own code: a
submission can replace the checks there (``course_lib.grading.check_close = ...``) or hand
in the reference instead of its own code (``from course_lib.logit import logit_nll``).
Neither pays once the answers are checked here as well:

1. The submission's code cells, without its test cells, run again in a fresh process (in
   the grading sandbox where the machine has one) in which the graded references, and
   other libraries' implementations of the same answers (:class:`Peer`), refuse to run:
   their modules' files are swapped for copies whose functions raise ``PermissionError``
   (:func:`disabled_source`), and their compiled copies are hidden.
2. Where an answer's first test would run, the answer is called on cases drawn from a seed
   the student cannot know, and what it returns is saved as plain tensors.
3. The grader's own process loads them (``weights_only``: data, never code) and compares
   them with the reference through :func:`course_lib.grading.check_function`.

Which answers are checked, against what, and which modules are disabled is declared per
assignment in :mod:`course_lib.outside_checks`. :mod:`course_lib.class_grading` withdraws
the points of a test that passed in the kernel while its answer fails here.
"""

from __future__ import annotations

import ast
import copy
import importlib.abc
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat
import torch

from course_lib import sandbox

__all__ = ["Answer", "OutsideChecks", "Peer", "Verdict", "disabled_source", "verify_submission"]


@dataclass(frozen=True)
class Answer:
    """One function a student writes, as the outside check sees it.

    Attributes:
        name: The function's name in the notebook.
        tests: Grade ids of the test cells that check it; the answer is recorded where the
            first of them stands.
        cases: ``seed -> list of argument tuples`` (tensors, numbers, modules).
        reference: The reference function, called with the same arguments.
        rtol: Relative tolerance, as in the notebook's tests.
        atol: Absolute tolerance, as in the notebook's tests.
        call: How the notebook's tests call the answer, ``call(answer, *case)``, when not
            ``answer(*case)``: a module-level function of a module that stays enabled.
    """

    name: str
    tests: tuple[str, ...]
    cases: Callable[[int], list[tuple]]
    reference: Callable
    rtol: float = 1e-4
    atol: float = 1e-6
    call: Callable | None = None


@dataclass(frozen=True)
class Peer:
    """Another library's implementation of a graded answer (a spline, a Sinkhorn loop).

    Calling it instead of writing the answer passes the notebook's tests. Where it can be
    switched off without breaking the notebook's provided cells, it refuses to run in the
    outside check like the references; either way the audit flags code that uses it.

    Attributes:
        what: How the report names it ("nflows' rational-quadratic spline").
        answers: The answers it computes.
        names: Dotted names whose import or use is flagged; a module covers its contents.
        disabled: Module name -> functions and classes that refuse to run in the outside
            check, as :attr:`OutsideChecks.disabled`; modules that are not installed are
            skipped. Empty: flagged only.
        allowed: Grade ids of the cells whose task asks for this library (not flagged there).
    """

    what: str
    answers: tuple[str, ...]
    names: tuple[str, ...]
    disabled: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutsideChecks:
    """What is checked outside the kernel for one assignment.

    Attributes:
        answers: The answers to record and compare.
        disabled: Module name -> the functions and classes in it that refuse to run while
            the answers run (None: every function and class of the module).
        peers: Other libraries' implementations of the answers (:class:`Peer`).
    """

    answers: tuple[Answer, ...]
    disabled: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    peers: tuple[Peer, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The outside check of one answer: ``problem`` is None when it agrees."""

    answer: str
    tests: tuple[str, ...]
    problem: str | None


_REFERENCE = "is a graded reference"


def disabled_source(
    source: str, module: str, names: tuple[str, ...] | None = None, *, why: str = _REFERENCE
) -> str:
    """``source`` with the bodies of the named functions (every method, for a class;
    ``"Class.method"`` for one method) replaced by ``raise PermissionError``; None disables
    every function and class. ``why`` completes
    the message "<module>.<name> ...".

    Signatures, classes and the rest of the module stay, so everything that imports the
    module still imports.
    """
    tree = ast.parse(source)

    def refuse(function: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str) -> None:
        message = (
            f"{module}.{qualname} {why}: it does not run while your answers are checked; "
            "write your own"
        )
        function.body = [
            ast.Raise(
                exc=ast.Call(
                    func=ast.Name("PermissionError", ast.Load()),
                    args=[ast.Constant(message)],
                    keywords=[],
                ),
                cause=None,
            )
        ]

    for node in tree.body:
        name = getattr(node, "name", None)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if names is None or name in names:
                refuse(node, name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                qualname = f"{name}.{getattr(item, 'name', '')}"
                whole = names is None or name in names
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    whole or qualname in names
                ):
                    refuse(item, qualname)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _test_ids(release: Path) -> set[str]:
    """Grade ids of the released notebook's test cells (graded, not an answer)."""
    ids = set()
    for cell in nbformat.read(release, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and meta.get("grade_id"):
            ids.add(meta["grade_id"])
    return ids


def _plan(submission: Path, release: Path, checks: OutsideChecks) -> list[dict]:
    """Steps for the runner: the student's code cells, and where to record each answer."""
    tests = _test_ids(release)
    first_test = {answer.name: answer.tests[0] for answer in checks.answers}
    steps, recorded = [], set()
    for cell in nbformat.read(submission, as_version=4).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code":
            continue
        if grade_id in tests:
            for answer in checks.answers:
                if first_test[answer.name] == grade_id and answer.name not in recorded:
                    steps.append(_record_step(answer))
                    recorded.add(answer.name)
            if recorded == set(first_test):
                break  # nothing later is needed
            continue
        steps.append({"run": cell.source})
    # A deleted test cell: record after everything (its test scores zero anyway).
    steps += [_record_step(a) for a in checks.answers if a.name not in recorded]
    return steps


def _record_step(answer: Answer) -> dict:
    step = {"record": answer.name}
    if answer.call is not None:
        step["call"] = f"{answer.call.__module__}:{answer.call.__qualname__}"
    return step


def _module_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"cannot find the source file of module {module!r}")
    return Path(spec.origin)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def _disabled_modules(checks: OutsideChecks) -> list[tuple[str, tuple[str, ...] | None, str]]:
    """``(module, names, why)`` for the references and the installed peers."""
    found = [(module, names, _REFERENCE) for module, names in checks.disabled.items()]
    for peer in checks.peers:
        why = f"computes a graded answer ({', '.join(peer.answers)})"
        found += [
            (module, names, why) for module, names in peer.disabled.items() if _installed(module)
        ]
    return found


def verify_submission(
    submission: str | Path,
    release: str | Path,
    checks: OutsideChecks,
    *,
    seed: int,
    policy: sandbox.SandboxPolicy | None = None,
    cell_timeout: float = 60.0,
    timeout: float = 600.0,
    environment: Mapping[str, str] | None = None,
) -> list[Verdict]:
    """Run ``submission`` without its tests and the graded references; compare its answers.

    Args:
        submission: The student's notebook.
        release: The released notebook (it says which cells are tests).
        checks: What to check (:mod:`course_lib.outside_checks`).
        seed: Seed of the cases; keep it from students (class grading derives it from a
            secret in the grading folder).
        policy: Run in this sandbox (None: a plain subprocess, for machines without one).
        cell_timeout: Seconds per cell and per call of an answer.
        timeout: Seconds for the whole run; an answer not recorded by then fails.
        environment: Environment variables of the run (default: this process's).

    Returns:
        One verdict per answer, in ``checks.answers`` order.
    """
    submission, release = Path(submission).resolve(), Path(release).resolve()
    with tempfile.TemporaryDirectory(prefix="course-replay-") as work:
        work = Path(work)
        plan_dir, out_dir, run_dir = work / "plan", work / "out", work / "run"
        for folder in (plan_dir / "cases", plan_dir / "disabled", out_dir, run_dir):
            folder.mkdir(parents=True)
        cases = {}
        for answer in checks.answers:
            cases[answer.name] = answer.cases(seed)
            torch.save(cases[answer.name], plan_dir / "cases" / f"{answer.name}.pt")
        replaced, emptied, modules = [], set(), {}
        for module, names, why in _disabled_modules(checks):
            original = _module_file(module)
            copy_path = plan_dir / "disabled" / f"{module}.py"
            copy_path.write_text(disabled_source(original.read_text(), module, names, why=why))
            replaced.append((str(original), str(copy_path)))
            modules[module] = str(copy_path)
            if (original.parent / "__pycache__").is_dir():
                emptied.add(str(original.parent / "__pycache__"))
        plan = {
            "steps": _plan(submission, release, checks),
            "cell_timeout": cell_timeout,
            "modules": modules,
        }
        (plan_dir / "plan.json").write_text(json.dumps(plan))
        # The submission's folder (data files it reads), copied: the run may write there.
        for path in submission.parent.iterdir():
            if path.is_file():
                (run_dir / path.name).write_bytes(path.read_bytes())
        command = [sys.executable, "-m", "course_lib.replay", str(plan_dir), str(out_dir)]
        if policy is not None:
            policy = replace(
                policy,
                hidden=(*policy.hidden, str(work)),
                readable=(*policy.readable, str(plan_dir)),
                replaced=(*policy.replaced, *replaced),
                emptied=(*policy.emptied, *sorted(emptied)),
            )
            command = sandbox.bwrap_command(policy, run_dir, command, writable=(out_dir,))
        env = dict(os.environ if environment is None else environment)
        env.update({"MPLBACKEND": "Agg", "IPYTHONDIR": str(work / "ipython")})
        try:
            subprocess.run(
                command,
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
            stopped = ""
        except subprocess.TimeoutExpired:
            stopped = f" (the run was stopped after {timeout:g} s)"
        return [
            Verdict(
                answer.name, answer.tests, _compare(answer, cases[answer.name], out_dir, stopped)
            )
            for answer in checks.answers
        ]


def _compare(answer: Answer, cases: list[tuple], out_dir: Path, stopped: str) -> str | None:
    from course_lib.grading import check_function

    path = out_dir / f"{answer.name}.pt"
    if not path.is_file():
        return f"{answer.name} was never reached when the notebook ran again{stopped}"
    try:
        outputs = torch.load(path, weights_only=True)
    except Exception as error:  # noqa: BLE001 (anything unreadable fails the answer)
        return f"what {answer.name} returned could not be read back: {error}"
    if not isinstance(outputs, list) or len(outputs) != len(cases):
        return f"{answer.name}'s recorded outputs are malformed"
    for case, output in zip(cases, outputs, strict=True):
        if not isinstance(output, dict) or ("error" not in output and "value" not in output):
            return f"{answer.name}'s recorded outputs are malformed"
        if "error" in output:
            return f"{answer.name} {output['error']}"
        try:
            check_function(
                lambda *args, value=output["value"]: value,
                answer.reference,
                [copy.deepcopy(case)],
                name=answer.name,
                rtol=answer.rtol,
                atol=answer.atol,
            )
        except AssertionError as error:
            return str(error)
    return None


# --- The runner, in the fresh (sandboxed) process ------------------------------------------


class _CellTimeout(Exception):
    pass


class _Disabled(importlib.abc.MetaPathFinder):
    """Loads the disabled copies of the references; the sandbox's file swap makes this hold
    even if a submission removes the finder, and this covers runs without a sandbox."""

    def __init__(self, modules: Mapping[str, str]):
        self.modules = dict(modules)

    def find_spec(self, name, path=None, target=None):
        if name in self.modules:
            return importlib.util.spec_from_file_location(name, self.modules[name])
        return None


def _plain(value: object) -> object:
    """Tensors (detached, on the CPU, no subclass), numbers and tuples of them."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone().as_subclass(torch.Tensor)
    if isinstance(value, (tuple, list)):
        return tuple(_plain(item) for item in value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"returned a {type(value).__name__}, not tensors")


def _with_alarm(seconds: float, action: Callable[[], object]) -> object:
    def on_alarm(signum, frame):
        raise _CellTimeout(f"ran over {seconds:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, math.ceil(seconds)))
    try:
        return action()
    finally:
        signal.alarm(0)


def _record(namespace: dict, step: dict, plan_dir: Path, out_dir: Path, seconds: float) -> None:
    name = step["record"]
    cases = torch.load(plan_dir / "cases" / f"{name}.pt", weights_only=False)
    function = namespace.get(name)
    call = lambda answer, *case: answer(*case)  # noqa: E731
    if "call" in step:
        module, _, qualname = step["call"].partition(":")
        call = getattr(importlib.import_module(module), qualname)
    outputs = []
    for case in cases:
        if not callable(function):
            outputs.append({"error": "is not defined as a function"})
            continue
        try:
            value = _with_alarm(seconds, lambda case=case: call(function, *case))
            outputs.append({"value": _plain(value)})
        except BaseException as error:  # noqa: BLE001 (SystemExit too: record, go on)
            outputs.append({"error": f"raised {type(error).__name__}: {error}"[:300]})
    torch.save(outputs, out_dir / f"{name}.pt")


def _run(plan_dir: Path, out_dir: Path) -> None:
    plan = json.loads((plan_dir / "plan.json").read_text())
    sys.meta_path.insert(0, _Disabled(plan["modules"]))
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    seconds = plan["cell_timeout"]
    for step in plan["steps"]:
        if "run" in step:
            try:
                _with_alarm(seconds, lambda step=step: shell.run_cell(step["run"]))
            except BaseException:  # noqa: BLE001 (a cell's failure is the student's; go on)
                pass
        else:
            _record(shell.user_ns, step, plan_dir, out_dir, seconds)


if __name__ == "__main__":
    _run(Path(sys.argv[1]), Path(sys.argv[2]))
