"""The GitHub Actions workflows that grade on CPU and GPU runners call the same Make target."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("grade-*.yml"))


def test_there_is_a_cpu_and_a_gpu_grading_workflow():
    assert [path.name for path in WORKFLOWS] == ["grade-cpu.yml", "grade-gpu.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_grades_with_make_and_uploads_the_results(path):
    workflow = yaml.safe_load(path.read_text())
    # PyYAML reads the key "on" as True.
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    assert {"assignment", "submissions"} <= set(inputs)
    (job,) = workflow["jobs"].values()
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "make release grade" in commands
    assert 'ASSIGNMENT="${{ inputs.assignment }}"' in commands
    assert 'FROM="${{ inputs.submissions }}"' in commands
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "grading/${{ inputs.assignment }}/" in upload["with"]["path"]
    assert upload.get("if") == "always()"


def test_the_gpu_workflow_runs_on_a_gpu_with_cuda_torch_and_no_memory_cap():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "grade-gpu.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert "gpu" in job["runs-on"] and "self-hosted" in job["runs-on"]
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "MEMORY_GIB=0" in commands and "TORCH_SPEC=" in commands
