"""The appendix's loader and renderers: results files present, missing or broken."""

import json

import matplotlib
import pytest

from benchmarks import report

matplotlib.use("Agg")


def test_a_missing_results_file_reads_as_not_measured(tmp_path):
    assert report.load_results("toy_flows", tmp_path) is None
    for render in (
        report.run_summary,
        report.goals_list,
        report.flows_tables,
        report.chapters_table,
        report.operations_table,
    ):
        assert render(None) == report.NOT_MEASURED
    assert report.flows_settings(None) == ""
    figure = report.plot_gap_vs_time(None)
    assert "not measured yet" in figure.axes[0].texts[0].get_text()


def test_a_broken_results_file_names_itself(tmp_path):
    (tmp_path / "toy_flows.json").write_text("{not json")
    with pytest.raises(ValueError, match="toy_flows.json is not valid JSON"):
        report.load_results("toy_flows", tmp_path)


def _figure(value: float, unit: str = "s") -> dict:
    return {"median": value, "repeats": [value], "unit": unit}


def _record(results: list[dict], goals: list[dict] | None = None) -> dict:
    return {
        "date": "2026-01-01T00:00:00Z",
        "complete": True,
        "machine": {"cpu_model": "Test CPU", "cpu_count": 2, "platform": "Linux"},
        "software": {"python": "3.11", "torch": "2.13.0"},
        "threads": 1,
        "repeats": 1,
        "load_average": {"start": [0.1, 0.2, 0.3], "end": [0.2, 0.2, 0.3]},
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "settings": {
            "goal_nats": 0.05,
            "train_size": 1000,
            "test_size": 500,
            "optimizer": "Adam",
            "learning_rate": 0.003,
            "batch_size": 64,
            "schedule": "cosine decay",
            "steps": 100,
            "planar_steps": 50,
        },
        "results": results,
        "goals": goals or [],
    }


def test_flow_results_render_as_tables_goals_and_a_plot(tmp_path):
    ok = {
        "id": "two_moons/course_lib-realnvp",
        "status": "ok",
        "dataset": "two_moons",
        "dataset_label": "two moons",
        "library": "course_lib",
        "model": "RealNVP",
        "steps": 100,
        "parameters": 1234,
        "true_entropy": 0.289234,
        "figures": {
            "nll_gap": _figure(0.0321, "nats"),
            "ms_per_step": _figure(8.0, "ms"),
            "nll_standard_error": _figure(0.002, "nats"),
            "kl_paired": _figure(0.03, "nats"),
            "seconds_per_1000_steps": _figure(8.0),
            "train_seconds": _figure(0.8),
        },
    }
    skipped = {
        "id": "two_moons/zuko-nsf",
        "status": "skipped",
        "dataset": "two_moons",
        "library": "zuko",
        "model": "NSF",
        "message": "zuko is not installed",
    }
    goal = {
        "goal": "course_lib RealNVP within 0.05 nats on two_moons",
        "met": True,
        "measured_nats": 0.0321,
    }
    record = _record([ok, skipped], [goal])
    (tmp_path / "toy_flows.json").write_text(json.dumps(record))
    record = report.load_results("toy_flows", tmp_path)
    tables = report.flows_tables(record)
    assert "**two moons**" in tables and "| RealNVP | course_lib | 100 | 1,234 | 0.032 |" in tables
    assert "| NSF | zuko |" in tables and "not installed" in tables
    assert "**met**" in report.goals_list(record)
    settings = report.flows_settings(record)
    assert (
        "1,000 training points" in settings
        and "(the planar flow: 50 steps, learning rate 0.003)" in settings
    )
    summary = report.run_summary(record)
    assert "Test CPU" in summary and "0123456789" in summary and "1 torch thread" in summary
    assert "Measured again" not in summary
    record["updates"] = [
        {
            "date": "2026-12-01T10:00:00Z",
            "git": {"commit": "abcdef0123456789", "dirty": False},
            "load_average": {"start": [0.5, 0.4, 0.3], "end": None},
            "cases": ["two_moons/course_lib-realnvp"],
        }
    ]
    again = report.run_summary(record)
    assert again.startswith(summary) and (
        "Measured again on 2026-12-01 10:00:00 UTC (commit abcdef0123, load average "
        "[0.5, 0.4, 0.3]): `two_moons/course_lib-realnvp`." in again
    )
    figure = report.plot_gap_vs_time(record)
    assert [axis.get_title() for axis in figure.axes] == ["two moons"]


def test_operation_results_render_as_tables():
    book = {
        "id": "book",
        "status": "ok",
        "figures": {
            "cold_build_seconds": _figure(100.0),
            "warm_build_seconds": _figure(9.0),
            "chapter_seconds/book/planar_realnvp": _figure(70.0),
        },
    }
    grading = {
        "id": "autograde/logit_mle",
        "status": "ok",
        "assignment": "logit_mle",
        "submissions": 2,
        "sandboxed": True,
        "figures": {
            "seconds_per_submission": _figure(12.5),
            "seconds_per_submission_2_jobs": _figure(7.0),
            "speedup_2_jobs": _figure(1.79, "x"),
        },
    }
    isolation = {
        "id": "sandbox",
        "status": "ok",
        "figures": {
            "plain_kernel_seconds": _figure(1.5),
            "sandboxed_kernel_seconds": _figure(1.75),
            "isolation_overhead_seconds": _figure(0.25),
        },
    }
    failed = {"id": "autograde/planar_realnvp", "status": "failed", "message": "RuntimeError"}
    record = _record([book, grading, failed, isolation])
    table = report.operations_table(record)
    assert "| cold book build | 100.0 |" in table and "| warm book build | 9.0 |" in table
    assert (
        "| grade `logit_mle` | 12.5 per submission | 2 submissions, 1 job; 2 jobs: 7.0 s per "
        "submission, 1.79x faster; sandboxed |" in table
    )
    assert "| grading sandbox | 0.25 per submission |" in table
    assert "| autograde/planar_realnvp | failed |" in table and "RuntimeError" not in table
    assert "| `book/planar_realnvp` | 70.0 |" in report.chapters_table(record)


def _flow(library: str, model: str, family: str, gap: float, ms: float) -> dict:
    return {
        "id": f"two_moons/{library}-{model}",
        "status": "ok",
        "dataset": "two_moons",
        "library": library,
        "model": model,
        "family": family,
        "figures": {"nll_gap": _figure(gap, "nats"), "ms_per_step": _figure(ms, "ms")},
    }


def test_peer_goals_compare_each_course_flow_with_its_family():
    from benchmarks import toy_flows

    results = [
        _flow("course_lib", "RealNVP", "affine", gap=0.06, ms=11.0),
        _flow("course_lib", "NSF", "spline", gap=0.10, ms=10.0),
        _flow("zuko", "MAF", "affine", gap=0.05, ms=10.0),
        _flow("nflows", "MAF", "affine", gap=0.04, ms=20.0),
        # A spline peer far better than the affine flows: not their yardstick.
        _flow("zuko", "NSF", "spline", gap=0.01, ms=12.0),
        {**_flow("course_lib", "planar", None, gap=0.5, ms=5.0), "family": None},
    ]
    goals = {g["goal"].split(":")[0]: g for g in toy_flows.peer_goals(results)}
    assert set(goals) == {"course_lib RealNVP on two_moons", "course_lib NSF on two_moons"}
    realnvp = goals["course_lib RealNVP on two_moons"]
    assert realnvp["best_peer"] == "nflows MAF" and realnvp["fastest_peer"] == "zuko MAF"
    assert realnvp["nats_above_best_peer"] == pytest.approx(0.02)
    assert realnvp["time_ratio_to_fastest_peer"] == pytest.approx(1.1)
    assert realnvp["met"] is True
    spline = goals["course_lib NSF on two_moons"]
    assert spline["nats_above_best_peer"] == pytest.approx(0.09) and spline["met"] is False
    # Slower than 1.2x the fastest peer fails even with the best NLL.
    results[0]["figures"]["ms_per_step"] = _figure(12.5, "ms")
    results[0]["figures"]["nll_gap"] = _figure(0.01, "nats")
    (realnvp, _) = toy_flows.peer_goals(results)
    assert realnvp["met"] is False and realnvp["time_ratio_to_fastest_peer"] == pytest.approx(1.25)
    text = report.goals_list(_record(results, toy_flows.peer_goals(results)))
    assert "**not met**; -0.030 nats above nflows MAF, 1.25x the time of zuko MAF." in text


def test_transport_tables_show_step_times_and_each_fit():
    assert report.transport_tables(None) == report.NOT_MEASURED
    step = {
        "id": "step_time/batch_512",
        "status": "ok",
        "figures": {
            "ms_per_step": _figure(80.0, "ms"),
            "geomloss_ms": _figure(40.0, "ms"),
            "course_lib_ms": _figure(900.0, "ms"),
            "course_lib_iterations": _figure(350.0, "iterations"),
            "course_lib_minus_geomloss": _figure(0.0123, None),
        },
    }
    scores = {
        f"{score}/{model}": _figure(value, None)
        for model, value in (("pushforward", 0.2), ("realnvp", 0.1), ("floor", 0.05))
        for score in ("sliced_w2", "sinkhorn")
    }
    fit = {
        "id": "fit/two_moons",
        "status": "ok",
        "figures": scores
        | {
            "nll_gap/realnvp": _figure(0.0712, "nats"),
            "steps/pushforward": _figure(1000.0, "steps"),
            "steps/realnvp": _figure(4321.0, "steps"),
            "train_seconds/pushforward": _figure(60.0),
            "train_seconds/realnvp": _figure(60.0),
        },
    }
    failed = {"id": "step_time/batch_2048", "status": "timeout", "message": "stopped"}
    text = report.transport_tables(_record([step, failed, fit]))
    assert "| 512 | 80.0 | 40.0 | 900.0 | 350 | 0.0123 |" in text
    assert "| 2048 | too slow, stopped |" in text
    assert "**two moons**" in text and "| 0.071 | 4,321 | 60.0 |" in text
    assert "| two data samples (floor) | 0.0500 | 0.0500 |" in text


def test_drift_table_shows_each_configuration_beside_the_paper_and_the_goals():
    from benchmarks import drift

    assert report.drift_table(None) == report.NOT_MEASURED

    def case(model, lr, score, minutes):
        return {
            "id": f"diabetes/{model}/lr_{lr:.0e}",
            "status": "ok",
            "model": model,
            "label": drift.LABELS[model],
            "lr": lr,
            "max_epochs": 500,
            "paper": list(drift.PAPER[model]) if model in drift.PAPER else None,
            "figures": {
                "log_score": _figure(score, "nats per observation"),
                "log_score_std": _figure(0.12, "nats per observation"),
                "minutes_per_fold": _figure(minutes, "min"),
                "epochs_per_fold": _figure(80.0, "epochs"),
                "best_epoch": _figure(50.0, "epochs"),
            },
        }

    results = [
        case("gaussian", 1e-3, -5.41, 0.1),
        case("drift-ls", 1e-3, -5.19, 0.5),
        case("drift-ls", 1e-2, -5.15, 0.2),
        case("drift-inter", 1e-3, -5.3, 0.4),
        {"id": "diabetes/drift-tp/lr_1e-03", "status": "failed", "message": "boom",
         "label": "DRIFT-TP", "lr": 1e-3},
    ]
    met, fastest = drift.goals(results)
    assert met["met"] is True and met["measured"] == -5.15
    assert fastest["configuration"] == "diabetes/drift-ls/lr_1e-02"
    text = report.drift_table(_record(results, [met, fastest]))
    assert "| Gaussian location-scale network | 0.001 | 500 | -5.41 (0.12) | -5.8 (0.3) " in text
    assert "| DRIFT-INTER | 0.001 | 500 | -5.30 (0.12) |  | 0.40 | 80 |" in text
    assert "| DRIFT-TP | 0.001 | | failed |" in text
    assert "**met**; diabetes/drift-ls/lr_1e-02, 0.20 minutes per fold." in text
    slow = drift.goals([case("drift-ls", 1e-3, -5.4, 0.5)])
    assert [goal["met"] for goal in slow] == [False, False]
    assert "no configuration reached it" in report.drift_table(_record(results[:1], slow))


def test_conditional_tables_show_each_head_each_label_and_the_goals():
    from benchmarks import conditional

    assert report.conditional_tables(None) == report.NOT_MEASURED
    labels = conditional.LABELS

    def head(name, nll, std):
        figures = {"nll": _figure(nll, "nats"), "seconds_per_epoch": _figure(2.0)}
        figures["best_epoch"] = _figure(11.0, "epochs")
        for label in labels:
            figures |= {
                f"pull_mean/{label}": _figure(0.01, None),
                f"pull_std/{label}": _figure(std, None),
                f"coverage68/{label}": _figure(0.675, None),
                f"coverage95/{label}": _figure(0.951, None),
                f"pit_ks/{label}": _figure(0.02 * std, None),
                f"low_snr_coverage68/{label}": _figure(0.68 - 0.1 * (std - 1), None),
                f"low_snr_coverage95/{label}": _figure(0.95, None),
                f"r2/{label}": _figure(0.9, None),
            }
        return {"id": f"head/{name}", "head": name, "status": "ok", "figures": figures,
                "parameters": 12345, "head_parameters": 678}

    timing = {
        "id": "step_time",
        "status": "ok",
        "figures": {
            "ms_per_step/diagonal": _figure(50.0, "ms"),
            "ms_per_step/flow": _figure(60.0, "ms"),
            "time_ratio/diagonal": _figure(1.0, None),
            "time_ratio/flow": _figure(1.2, None),
        },
    }
    every = [head("diagonal", 1.5, 1.3), head("full", 1.2, 1.2), head("flow", 0.5, 1.0), timing]
    assert [g["met"] for g in conditional.goals(every)] == [True, True, True]
    failed = {"id": "head/full", "head": "full", "status": "failed", "message": "boom"}
    results = [every[0], failed, every[2], timing]
    goals = conditional.goals(results)
    assert [g["met"] for g in goals] == [None, None, True]
    assert goals[2]["time_ratio"] == 1.2
    text = report.conditional_tables(_record(results, goals))
    assert "| conditional spline flow | 0.500 | 2.0 | 60.0 | 1.20x | 11 | 12,345 (678) |" in text
    assert "| full Gaussian | failed |" in text
    assert "**logg**" in text
    assert "| diagonal Gaussian | 0.01 | 1.30 | 0.675 | 0.951 | 0.026 | 0.650 / 0.950 | 0.900 |" in text
    assert "time per epoch is at most 1.5x the diagonal head's" in text and "(1.20x)" in text
