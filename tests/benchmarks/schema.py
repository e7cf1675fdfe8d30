"""The documented shape of a results file (benchmarks/README.md), checked key by key."""

import datetime
import math
import statistics

TOP_LEVEL = {
    "schema_version": int,
    "benchmark": str,
    "description": str,
    "date": str,
    "finished": str,
    "seconds": (int, float),
    "complete": bool,
    "quick": bool,
    "command": str,
    "machine": dict,
    "software": dict,
    "threads": int,
    "torch_threads": dict,
    "load_average": dict,
    "git": dict,
    "repeats": int,
    "settings": dict,
    "results": list,
    "goals": list,
}
STATUSES = {"ok", "skipped", "diverged", "timeout", "failed"}


def _utc(text: str) -> datetime.datetime:
    assert text.endswith("Z"), f"date {text!r} must be UTC, ending in Z"
    return datetime.datetime.fromisoformat(text.removesuffix("Z"))


def check_record(record: dict) -> None:
    """Raises AssertionError, naming the key, where ``record`` departs from the schema."""
    for key, kind in TOP_LEVEL.items():
        assert key in record, f"results file lacks {key!r}"
        assert isinstance(record[key], kind), f"{key} is {type(record[key]).__name__}"
    assert record["schema_version"] == 1
    assert _utc(record["date"]) <= _utc(record["finished"])
    machine = record["machine"]
    for key in ("cpu_count", "cpu_model", "platform"):
        assert key in machine, f"machine lacks {key!r}"
    assert isinstance(machine["cpu_count"], int) and machine["cpu_count"] >= 1
    assert {"python", "torch"} <= set(record["software"])
    assert record["threads"] >= 1
    assert record["torch_threads"]["intra_op"] == record["threads"]
    for moment in ("start", "end"):
        load = record["load_average"][moment]
        assert load is None or (len(load) == 3 and all(v >= 0 for v in load))
    assert set(record["git"]) == {"commit", "dirty"}
    assert record["results"], "no case was recorded"
    ids = [result["id"] for result in record["results"]]
    assert len(ids) == len(set(ids)), f"case ids repeat: {ids}"
    for result in record["results"]:
        _check_result(result, record["repeats"])
    for goal in record["goals"]:
        assert isinstance(goal["goal"], str) and goal["met"] in (True, False, None)


def _check_result(result: dict, repeats: int) -> None:
    case = result["id"]
    assert result["status"] in STATUSES, f"{case}: status {result['status']!r}"
    if result["status"] != "ok":
        assert result.get("message"), f"{case}: a {result['status']} case must say why"
        return
    assert result["repeats_done"] == repeats, case
    assert result["figures"], f"{case} has no figure"
    for name, figure in result["figures"].items():
        assert set(figure) == {"median", "repeats", "unit"}, f"{case}/{name}: {set(figure)}"
        values = figure["repeats"]
        assert len(values) == repeats, f"{case}/{name}: {len(values)} repeats"
        assert all(isinstance(v, float) and math.isfinite(v) for v in values), (case, name)
        assert math.isclose(figure["median"], statistics.median(values)), (case, name)
        assert figure["unit"] is None or isinstance(figure["unit"], str)
