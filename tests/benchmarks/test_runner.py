"""The runner on a tiny configuration: the JSON it writes, its options and its exit status.

A few seconds in all; nothing here depends on how long anything takes.
"""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmarks import run
from benchmarks.cases import Case, Options
from tests.benchmarks.schema import check_record

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--only",
    "toy_flows/two_moons/course_lib-realnvp",
    "--steps",
    "5",
    "--train-size",
    "500",
    "--test-size",
    "300",
    "--threads",
    "1",
]


@pytest.fixture(scope="module")
def tiny_record(tmp_path_factory) -> dict:
    """The results file of a five-step RealNVP run, the way `make bench` starts the runner."""
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *TINY, "--repeats", "2", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["toy_flows.json"]
    return json.loads((out / "toy_flows.json").read_text())


def test_tiny_run_writes_the_documented_schema(tiny_record):
    check_record(tiny_record)
    assert tiny_record["benchmark"] == "toy_flows"
    assert tiny_record["threads"] == 1
    assert tiny_record["repeats"] == 2
    # --only and --steps make it a partial run, which never replaces committed results.
    assert tiny_record["complete"] is False


def test_tiny_run_records_the_flow_figures(tiny_record):
    (result,) = tiny_record["results"]
    assert result["id"] == "two_moons/course_lib-realnvp"
    assert result["status"] == "ok"
    assert (result["library"], result["model"], result["dataset"]) == (
        "course_lib",
        "RealNVP",
        "two_moons",
    )
    assert result["steps"] == 5 and result["parameters"] > 0
    figures = result["figures"]
    for name in (
        "nll_gap",
        "nll_standard_error",
        "kl_paired",
        "ms_per_step",
        "seconds_per_1000_steps",
        "train_seconds",
    ):
        assert name in figures, name
    assert figures["nll_gap"]["unit"] == "nats" and figures["ms_per_step"]["unit"] == "ms"
    # Same seeds, same data: the two repeats train the same model.
    gaps = figures["nll_gap"]["repeats"]
    assert gaps[0] == pytest.approx(gaps[1], abs=1e-6)
    assert result["true_entropy"] == pytest.approx(0.289234, abs=1e-6)


def test_tiny_run_evaluates_the_goals(tiny_record):
    goals = {goal["goal"]: goal for goal in tiny_record["goals"]}
    two_moons = next(g for text, g in goals.items() if "two_moons" in text and "RealNVP" in text)
    assert two_moons["measured_nats"] == tiny_record["results"][0]["figures"]["nll_gap"]["median"]
    assert two_moons["met"] in (True, False)
    eight = next(g for text, g in goals.items() if "eight_gaussians" in text and "within" in text)
    assert eight["met"] is None  # not measured in this run


def test_partial_runs_default_to_the_ignored_folder():
    assert run.PARTIAL.parent == run.RESULTS
    ignored = (run.RESULTS / ".gitignore").read_text().split()
    assert "partial/" in ignored


def test_only_selects_by_pattern_or_prefix():
    case = Case("two_moons/zuko-nsf", lambda: {})
    assert run._selected("toy_flows", case, [])
    assert run._selected("toy_flows", case, ["toy_flows"])
    assert run._selected("toy_flows", case, ["toy_flows/two_moons"])
    assert run._selected("toy_flows", case, ["toy_flows/*/zuko-*"])
    assert not run._selected("toy_flows", case, ["toy_flows/checkerboard"])
    assert not run._selected("toy_flows", case, ["course_operations"])


def test_list_names_every_case_without_running(capsys):
    assert run.main(["--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert "toy_flows/two_moons/course_lib-realnvp" in listed
    assert "toy_flows/checkerboard/zuko-nsf" in listed
    assert "course_operations/book" in listed
    assert {"transport/step_time/batch_2048", "transport/fit/two_moons"} <= set(listed)
    assert run.main(["--list", "--quick"]) == 0
    quick = capsys.readouterr().out.split()
    prefixes = ("toy_flows/two_moons/", "transport/", "conditional/", "drift/")
    assert quick and all(name.startswith(prefixes) for name in quick)
    assert "transport/step_time/batch_512" in quick
    assert "transport/step_time/batch_2048" not in quick


def test_a_pattern_that_matches_nothing_is_an_error(tmp_path, capsys):
    assert run.main(["--only", "no_such_group", "--out", str(tmp_path)]) == 2
    assert "no case matches" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_failing_case_is_recorded_and_the_others_still_run():
    def broken():
        raise RuntimeError("boom")

    def fine():
        return {"figures": {"seconds": 1.0}, "info": {"note": "x"}}

    failed = run._run_case(Case("broken", broken), 2, {"seconds": "s"})
    assert failed["status"] == "failed" and "boom" in failed["message"]
    assert failed["figures"] == {}
    ok = run._run_case(Case("fine", fine, {"kind": "test"}), 3, {"seconds": "s"})
    assert ok["status"] == "ok" and ok["kind"] == "test" and ok["note"] == "x"
    assert ok["figures"]["seconds"] == {"median": 1.0, "repeats": [1.0] * 3, "unit": "s"}


def _group(calls: list[str], interrupt_at: str | None = None) -> SimpleNamespace:
    """A stand-in group of three cases; ``interrupt_at`` stops the run as Ctrl-C would."""

    def measure(case_id: str) -> dict:
        if case_id == interrupt_at:
            raise KeyboardInterrupt
        calls.append(case_id)
        return {"figures": {"seconds": 1.0}}

    return SimpleNamespace(
        NAME="fake",
        DESCRIPTION="a stand-in group",
        UNITS={"seconds": "s"},
        settings=lambda options: {"size": 1},
        cases=lambda options: [
            Case(case_id, lambda case_id=case_id: measure(case_id)) for case_id in "abc"
        ],
    )


def test_resume_keeps_the_cases_an_interrupted_run_finished(tmp_path):
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run.run_group(_group(calls, interrupt_at="b"), Options(), [], tmp_path)
    progress = json.loads((tmp_path / "fake.progress.json").read_text())
    assert [r["id"] for r in progress["results"]] == ["a"]
    assert not (tmp_path / "fake.json").exists()

    record = run.run_group(_group(calls), Options(), [], tmp_path, resume=True)
    assert calls == ["a", "b", "c"]  # a was not measured again
    assert [r["id"] for r in record["results"]] == ["a", "b", "c"]
    assert record["date"] == progress["date"] and len(record["resumed"]) == 1
    assert json.loads((tmp_path / "fake.json").read_text()) == record
    assert not (tmp_path / "fake.progress.json").exists()


def test_without_resume_a_run_starts_afresh(tmp_path):
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run.run_group(_group(calls, interrupt_at="c"), Options(), [], tmp_path)
    run.run_group(_group(calls), Options(), [], tmp_path)
    assert calls == ["a", "b", "a", "b", "c"]


def test_tiny_transport_fit_records_both_models_and_the_floor(tmp_path):
    """The transport group's fit case on a few steps and points: figures, units, goals."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "transport/fit/eight_gaussians",
         "--steps", "3", "--train-size", "1000", "--test-size", "400", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Warning" not in result.stderr, result.stderr[-2000:]
    record = json.loads((tmp_path / "transport.json").read_text())
    check_record(record)
    (case,) = record["results"]
    assert case["id"] == "fit/eight_gaussians" and case["status"] == "ok"
    figures = case["figures"]
    for model in ("pushforward", "realnvp", "floor"):
        assert figures[f"sliced_w2/{model}"]["median"] > 0, model
        assert f"sinkhorn/{model}" in figures, model
    assert figures["steps/pushforward"]["median"] == 3.0
    assert figures["steps/realnvp"]["median"] >= 1.0
    assert figures["nll_gap/realnvp"]["unit"] == "nats"
    goals = [g for g in record["goals"] if "eight_gaussians" in g["goal"]]
    assert goals and goals[0]["pushforward"] == figures["sliced_w2/pushforward"]["median"]


def test_a_group_measured_in_full_is_complete_and_a_part_of_it_is_not():
    cases = [Case(name, lambda: {"figures": {}}) for name in "abc"]
    assert run._complete(Options(), cases, cases)
    assert not run._complete(Options(), cases[:2], cases)
    assert not run._complete(Options(quick=True), cases, cases)
    assert not run._complete(Options(steps=5), cases, cases)


def test_tiny_conditional_run_records_every_head_and_the_timing(tmp_path):
    """The conditional group on a few hundred stars and one epoch: figures, units, goals."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "conditional", "--quick",
         "--steps", "1", "--train-size", "240", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Warning" not in result.stderr, result.stderr[-2000:]
    record = json.loads((tmp_path / "conditional.json").read_text())
    check_record(record)
    assert record["complete"] is False and record["settings"]["epochs"] == 1
    ids = [case["id"] for case in record["results"]]
    assert ids == ["head/diagonal", "head/full", "head/flow", "step_time"]
    assert all(case["status"] == "ok" for case in record["results"])
    flow = record["results"][2]["figures"]
    assert flow["nll"]["unit"] == "nats" and 0 <= flow["coverage95/logg"]["median"] <= 1
    timing = record["results"][3]["figures"]
    assert timing["time_ratio/diagonal"]["median"] == 1.0
    assert [goal["met"] is not None for goal in record["goals"]] == [True, True, True]


def _fake_group(values: dict[str, float]) -> SimpleNamespace:
    """A group of three cases whose figure is read from ``values`` when measured."""
    return SimpleNamespace(
        NAME="fake",
        DESCRIPTION="three cases",
        UNITS={"value": "s"},
        REPEATS=1,
        settings=lambda options: {"size": 3},
        cases=lambda options: [
            Case(name, lambda name=name: {"figures": {"value": values[name]}}) for name in "abc"
        ],
        goals=lambda results: [
            {"goal": "a below 10", "met": results[0]["figures"]["value"]["median"] < 10}
        ],
    )


def test_update_replaces_the_chosen_cases_in_the_committed_file(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(run, "PARTIAL", tmp_path / "results" / "partial")
    monkeypatch.setattr(run.report, "PAGE", tmp_path / "page.md")
    values = {"a": 20.0, "b": 2.0, "c": 3.0}
    group = _fake_group(values)
    run.run_group(group, Options(threads=torch.get_num_threads()), [], run.RESULTS)
    first = json.loads((run.RESULTS / "fake.json").read_text())
    assert first["goals"][0]["met"] is False

    values["a"] = 5.0
    values["c"] = 30.0  # not selected: must keep 3.0
    updated = run.update_group(group, Options(threads=torch.get_num_threads()), ["fake/a"])
    on_disk = json.loads((run.RESULTS / "fake.json").read_text())
    assert on_disk == updated
    check_record(on_disk)
    figures = {r["id"]: r["figures"]["value"]["median"] for r in on_disk["results"]}
    assert figures == {"a": 5.0, "b": 2.0, "c": 3.0}
    assert on_disk["date"] == first["date"] and on_disk["goals"][0]["met"] is True
    (update,) = on_disk["updates"]
    assert update["cases"] == ["a"] and update["date"] >= first["date"]


def test_update_refuses_a_file_measured_with_other_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(run, "PARTIAL", tmp_path / "results" / "partial")
    monkeypatch.setattr(run.report, "PAGE", tmp_path / "page.md")
    group = _fake_group({"a": 1.0, "b": 2.0, "c": 3.0})
    with pytest.raises(SystemExit, match="run the whole group first"):
        run.update_group(group, Options(threads=torch.get_num_threads()), ["fake/a"])
    run.run_group(group, Options(threads=torch.get_num_threads()), [], run.RESULTS)
    group.settings = lambda options: {"size": 4}
    with pytest.raises(SystemExit, match="other settings"):
        run.update_group(group, Options(threads=torch.get_num_threads()), ["fake/a"])
    with pytest.raises(SystemExit, match="default settings"):
        run.update_group(group, Options(threads=torch.get_num_threads(), steps=5), ["fake/a"])
