"""The benchmark runner: measures each group and writes ``benchmarks/results/<group>.json``.

Usage (from the repository root, in the course's environment)::

    python -m benchmarks.run                 # everything (what `make bench` runs)
    python -m benchmarks.run --quick         # the QUICK subset, a few minutes
    python -m benchmarks.run --only toy_flows/two_moons --repeats 3 --threads 2

A full run writes into ``benchmarks/results/`` (committed; the book's appendix reads it).
A partial run (``--quick``, a changed setting, or ``--only`` selecting part of a group)
writes into ``benchmarks/results/partial/`` instead, which git ignores, so that it never replaces
the committed results; ``--out`` chooses another folder. After every case the record so
far is saved as ``<group>.progress.json``; ``--resume`` continues an interrupted run.
Nothing is asserted on time: a case that fails is recorded as failed, and the exit status
is 1 only when a case failed.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import math
import os
import statistics
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from benchmarks import machine, report
from benchmarks.cases import Case, CaseSkipped, Diverged, Options, TooSlow

__all__ = ["GROUPS", "main", "run_group"]

SCHEMA_VERSION = 1
GROUPS = ("toy_flows", "transport", "conditional", "drift", "course_operations")
RESULTS = machine.REPO / "benchmarks" / "results"
PARTIAL = RESULTS / "partial"


def _selected(group: str, case: Case, patterns: list[str]) -> bool:
    """Whether ``group/case.id`` matches a pattern, or lies under one (``toy_flows``)."""
    if not patterns:
        return True
    path = f"{group}/{case.id}"
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, f"{p}/*") for p in patterns)


def _unit(units: dict[str, str], figure: str) -> str | None:
    return units.get(figure, units.get(figure.split("/")[0]))


def _summary(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(finite) if finite else None


def _run_case(case: Case, repeats: int, units: dict[str, str]) -> dict:
    """Measures one case ``repeats`` times; figures keep their median and every repeat."""
    result = {"id": case.id, **case.info, "status": "ok"}
    result["load_average_start"] = machine.load_average()
    raw: dict[str, list[float]] = {}
    info: dict = {}
    start = time.perf_counter()
    for _ in range(repeats):
        try:
            measured = case.measure()
        except CaseSkipped as reason:
            result |= {"status": "skipped", "message": str(reason)}
            break
        except Diverged as reason:
            result |= {"status": "diverged", "message": str(reason)}
            break
        except TooSlow as reason:
            result |= {"status": "timeout", "message": str(reason)}
            break
        except Exception as error:  # a broken case must not stop the others
            traceback.print_exc()
            result |= {"status": "failed", "message": f"{type(error).__name__}: {error}"}
            break
        for name, value in measured["figures"].items():
            raw.setdefault(name, []).append(float(value))
        info |= measured.get("info", {})
    result |= info
    result["repeats_done"] = len(next(iter(raw.values()), []))
    result["seconds"] = round(time.perf_counter() - start, 3)
    result["figures"] = {
        name: {"median": _summary(values), "repeats": values, "unit": _unit(units, name)}
        for name, values in raw.items()
    }
    return result


def _describe(result: dict) -> str:
    if result["status"] != "ok":
        return f"{result['status']}: {result.get('message', '')}"
    shown = []
    for name in (
        "nll_gap",
        "ms_per_step",
        "train_seconds",
        "cold_build_seconds",
        "warm_build_seconds",
        "seconds_per_submission",
    ):
        figure = result["figures"].get(name)
        if figure and figure["median"] is not None:
            shown.append(f"{name} {figure['median']:.4g}")
    return ", ".join(shown) or f"{len(result['figures'])} figures"


def _write(path: Path, record: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
    temporary.replace(path)


def _earlier_results(progress: Path, record: dict) -> tuple[dict, dict[str, dict]]:
    """The interrupted run's record and its finished cases, if it measured the same thing."""
    if not progress.is_file():
        return {}, {}
    earlier = json.loads(progress.read_text())
    same = ("settings", "threads", "repeats", "complete", "quick")
    if any(earlier.get(key) != record[key] for key in same):
        print(f"   {progress.name} has other settings: starting afresh", flush=True)
        return {}, {}
    done = {r["id"]: r for r in earlier["results"] if r["status"] != "failed"}
    return earlier, done


def _complete(options: Options, cases: list[Case], every_case: list[Case]) -> bool:
    """A full measurement of the group: its every case, default settings, not QUICK."""
    return not (options.quick or options.overridden) and len(cases) == len(every_case)


def run_group(
    module: ModuleType, options: Options, patterns: list[str], out: Path, resume: bool = False
) -> dict | None:
    """Runs the selected cases of one group and writes its results file; None if none ran.

    After each case the record so far is saved as ``<out>/<group>.progress.json``; with
    ``resume``, the cases an interrupted run finished there are kept, not measured again.
    """
    every_case = module.cases(options)
    cases = [c for c in every_case if _selected(module.NAME, c, patterns)]
    if not cases:
        return None
    repeats = options.repeats or getattr(module, "REPEATS", 1)
    record = {
        "schema_version": SCHEMA_VERSION,
        "benchmark": module.NAME,
        "description": module.DESCRIPTION,
        "date": machine.utc_now(),
        "complete": _complete(options, cases, every_case),
        "quick": options.quick,
        "command": machine.command_line(),
        "machine": machine.machine(),
        "software": machine.software(),
        "threads": options.threads,
        "torch_threads": _torch_threads(),
        "load_average": {"start": machine.load_average(), "end": None},
        "git": machine.git_state(),
        "repeats": repeats,
        "settings": module.settings(options),
        "results": [],
    }
    out.mkdir(parents=True, exist_ok=True)
    progress = out / f"{module.NAME}.progress.json"
    earlier, done = _earlier_results(progress, record) if resume else ({}, {})
    if done:
        record["date"] = earlier["date"]
        record["load_average"]["start"] = earlier["load_average"]["start"]
        record["resumed"] = [*earlier.get("resumed", []), machine.utc_now()]
    elapsed = earlier.get("seconds", 0.0) if done else 0.0
    start = time.perf_counter()
    print(
        f"== {module.NAME}: {len(cases)} case(s), {repeats} repeat(s), "
        f"{options.threads} thread(s), load {record['load_average']['start']}",
        flush=True,
    )
    for case in cases:
        print(f"   {case.id} ...", end=" ", flush=True)
        if case.id in done:
            result = done[case.id]
            print("kept from the interrupted run", flush=True)
        else:
            result = _run_case(case, repeats, module.UNITS)
            print(f"{_describe(result)} ({result['seconds']:.0f} s)", flush=True)
        record["results"].append(result)
        record["seconds"] = round(elapsed + time.perf_counter() - start, 1)
        _write(progress, record)
    record["goals"] = module.goals(record["results"]) if hasattr(module, "goals") else []
    record["finished"] = machine.utc_now()
    record["load_average"]["end"] = machine.load_average()
    path = out / f"{module.NAME}.json"
    _write(path, record)
    progress.unlink()
    print(f"   wrote {path} ({record['seconds']:.0f} s)", flush=True)
    if out.resolve() == RESULTS.resolve() and report.PAGE.is_file():
        # Sphinx reads a page again only when its source changed: the appendix shows these
        # results from the next book build on.
        report.PAGE.touch()
    return record


def update_group(module: ModuleType, options: Options, patterns: list[str]) -> dict | None:
    """Measure the selected cases again and put them into the committed results file, in
    place of their earlier figures; the other cases and the file's first date stay, and
    ``updates`` records when which cases were measured again. For groups too long to run
    whole after each change. Refuses where the committed file was measured otherwise."""
    path = RESULTS / f"{module.NAME}.json"
    if options.quick or options.overridden:
        raise SystemExit("--update measures with the default settings: drop --quick/--steps/...")
    if not path.is_file():
        raise SystemExit(f"--update needs a committed {path}: run the whole group first")
    committed = json.loads(path.read_text())
    now = {
        "settings": module.settings(options),
        "threads": options.threads,
        "repeats": options.repeats or getattr(module, "REPEATS", 1),
        "software": machine.software(),
        "cpu_count": machine.machine()["cpu_count"],
    }
    before = {k: committed[k] for k in ("settings", "threads", "repeats", "software")}
    before["cpu_count"] = committed["machine"]["cpu_count"]
    # Packages absent from either side (the bench extra's peers) do not matter here.
    common = set(now["software"]) & set(before["software"])
    for side in (now, before):
        side["software"] = {k: v for k, v in side["software"].items() if k in common}
    differ = sorted(k for k in now if json.loads(json.dumps(now[k])) != before[k])
    if differ:
        raise SystemExit(
            f"{path.name} was measured with other {', '.join(differ)}: run the whole group"
        )
    record = run_group(module, options, patterns, PARTIAL)
    if record is None:
        return None
    fresh = {r["id"]: r for r in record["results"]}
    order = [c.id for c in module.cases(options)]
    kept = {r["id"]: r for r in committed["results"] if r["id"] in order}
    merged = {**kept, **fresh}
    committed["results"] = [merged[case] for case in order if case in merged]
    committed["updates"] = [
        *committed.get("updates", []),
        {
            "date": record["date"],
            "finished": record["finished"],
            "command": record["command"],
            "git": record["git"],
            "load_average": record["load_average"],
            "cases": sorted(fresh),
        },
    ]
    committed["seconds"] = round(committed["seconds"] + record["seconds"], 1)
    committed["goals"] = module.goals(committed["results"]) if hasattr(module, "goals") else []
    _write(path, committed)
    print(f"   updated {len(fresh)} case(s) of {path}", flush=True)
    if report.PAGE.is_file():
        report.PAGE.touch()
    return committed


def _torch_threads() -> dict:
    import torch

    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}


def _set_threads(threads: int) -> None:
    """One setting for torch here and for the subprocesses (book builds, autograding)."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started
        pass


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Measure course_lib and the course; write benchmarks/results/<group>.json.",
    )
    parser.add_argument("--quick", action="store_true", help="the QUICK subset (minutes)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only cases whose group/id matches (fnmatch) or lies under PATTERN, e.g. "
        "toy_flows, toy_flows/two_moons, 'toy_flows/*/zuko-*'; repeatable",
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        default=int(os.environ.get("BENCH_THREADS", "1")),
        help="torch intra-op threads, also OMP_NUM_THREADS of subprocesses (default 1; "
        "more threads than idle cores slow torch down by orders of magnitude)",
    )
    parser.add_argument("--repeats", type=_positive, help="repeats per case (group default)")
    parser.add_argument("--steps", type=_positive, help="override every step budget")
    parser.add_argument("--train-size", type=_positive, help="override the training size")
    parser.add_argument("--test-size", type=_positive, help="override the test size")
    parser.add_argument("--out", type=Path, help="results folder (default: see above)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the cases that an interrupted run with the same settings finished",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="measure the --only cases again and replace their figures in the committed "
        "results file (same settings and software; for groups too long to run whole)",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = Options(
        quick=args.quick,
        threads=args.threads,
        repeats=args.repeats,
        steps=args.steps,
        train_size=args.train_size,
        test_size=args.test_size,
    )
    modules = [importlib.import_module(f"benchmarks.{name}") for name in GROUPS]
    if options.quick:
        modules = [m for m in modules if not m.FULL_ONLY]
    if args.list:
        for module in modules:
            for case in module.cases(options):
                if _selected(module.NAME, case, args.only):
                    print(f"{module.NAME}/{case.id}")
        return 0
    _set_threads(options.threads)
    if args.update and not args.only:
        print("--update needs --only: which cases to measure again", file=sys.stderr)
        return 2
    records = []
    for module in modules:
        if args.update:
            records.append(update_group(module, options, args.only))
            continue
        every_case = module.cases(options)
        selected = [c for c in every_case if _selected(module.NAME, c, args.only)]
        # A group measured in full (`--only transport` included) replaces its committed file.
        complete = bool(selected) and _complete(options, selected, every_case)
        out = args.out or (RESULTS if complete else PARTIAL)
        records.append(run_group(module, options, args.only, out, args.resume))
    records = [r for r in records if r is not None]
    if not records:
        print(f"no case matches {args.only}; see --list", file=sys.stderr)
        return 2
    failed = [
        f"{r['benchmark']}/{c['id']}"
        for r in records
        for c in r["results"]
        if c["status"] == "failed"
    ]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
