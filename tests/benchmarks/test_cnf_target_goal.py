"""Issue #5's goal in the toy-flow benchmark: the CNF's time to RealNVP's held-out NLL."""

import pytest

from benchmarks import toy_flows


def _figure(value):
    return {"median": value, "repeats": [value], "unit": None}


def _results(curve, realnvp_nll=0.30, realnvp_seconds=60.0):
    realnvp = {
        "id": f"{toy_flows.TARGET_DATASET}/course_lib-realnvp",
        "status": "ok",
        "steps": 3000,
        "figures": {
            "nll": _figure(realnvp_nll),
            "nll_gap": _figure(0.01),
            "train_seconds": _figure(realnvp_seconds),
        },
    }
    cnf = {
        "id": f"{toy_flows.TARGET_DATASET}/course_lib-cnf-to-target",
        "status": "ok",
        "curve": curve,
        "figures": {"train_seconds": _figure(curve[-1][1])},
    }
    return [realnvp, cnf]


def test_the_ratio_is_the_first_time_the_curve_reaches_the_target():
    curve = [[100, 20.0, 0.50], [200, 40.0, 0.31], [300, 60.0, 0.29], [400, 80.0, 0.28]]
    goal = toy_flows.cnf_target_goal(_results(curve))
    assert goal["cnf_steps"] == 300 and goal["cnf_seconds"] == 60.0
    assert goal["measured_ratio"] == pytest.approx(1.0)
    assert goal["met"] is True
    assert "after 3000 steps" in goal["goal"]


def test_a_slow_cnf_misses_the_goal():
    curve = [[100, 100.0, 0.40], [200, 200.0, 0.29]]
    goal = toy_flows.cnf_target_goal(_results(curve))
    assert goal["measured_ratio"] == pytest.approx(200.0 / 60.0)
    assert goal["met"] is False


def test_a_cnf_that_never_reaches_the_target_gives_a_lower_bound():
    curve = [[100, 100.0, 0.40], [200, 150.0, 0.33], [300, 200.0, 0.35]]
    goal = toy_flows.cnf_target_goal(_results(curve))
    assert goal["measured_ratio"] is None and goal["met"] is False
    assert goal["ratio_at_least"] == pytest.approx(200.0 / 60.0)
    assert goal["cnf_best_nll"] == 0.33 and goal["cnf_last_nll"] == 0.35


def test_missing_cases_leave_the_goal_unmeasured():
    goal = toy_flows.cnf_target_goal(_results([[100, 1.0, 0.1]])[:1])
    assert goal["met"] is None and goal["measured_ratio"] is None


def test_the_time_budget_goal_ignores_the_time_to_target_case():
    results = _results([[100, 500.0, 0.1]])
    results[0]["figures"]["train_seconds"] = _figure(50.0)
    budget = next(g for g in toy_flows.goals(results) if g["goal"].startswith("every model"))
    assert budget["over_budget"] == [] and budget["met"] is True
