"""Every committed results file parses and follows the schema of benchmarks/README.md."""

import json

import pytest

from benchmarks import run
from tests.benchmarks.schema import check_record

FILES = sorted(run.RESULTS.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_committed_results_parse_and_follow_the_schema(path):
    record = json.loads(path.read_text())
    check_record(record)
    assert path.stem == record["benchmark"]
    assert record["benchmark"] in run.GROUPS
    # Committed numbers come from full runs; partial runs go to results/partial/.
    assert record["complete"] is True, f"{path.name} holds a partial run"
