"""What a student sees when pressing Validate: failures with actionable messages, or success."""

import nbformat
import pytest
from nbgrader_course import ASSIGNMENTS, completed_copy, run_nbgrader, source_notebooks
from wrong_answers import WRONG_ANSWERS

pytestmark = pytest.mark.slow

SUCCESS = "Success! Your notebook passes all the tests."


def _validate(course, notebook_path):
    result = run_nbgrader(course, "validate", str(notebook_path), timeout=600)
    return result.stdout + result.stderr


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate_fails_the_stub_and_passes_the_completed_notebook(
    generated_course, assignment, tmp_path
):
    release = generated_course / "assignments" / assignment
    for notebook in source_notebooks(assignment):
        stub_report = _validate(generated_course, release / notebook)
        assert "VALIDATION FAILED" in stub_report and "NotImplementedError" in stub_report
        completed = tmp_path / notebook
        source = generated_course / "solutions" / assignment / notebook
        nbformat.write(completed_copy(release / notebook, source), completed)
        assert SUCCESS in _validate(generated_course, completed)


def test_validate_explains_a_wrong_loss(generated_course, tmp_path):
    answers, _ = WRONG_ANSWERS["logit_mle"]["c_summed_loss"]
    release = generated_course / "assignments" / "logit_mle" / "logit_mle.ipynb"
    source = generated_course / "solutions" / "logit_mle" / "logit_mle.ipynb"
    wrong = tmp_path / "logit_mle.ipynb"
    nbformat.write(completed_copy(release, source, answers), wrong)
    report = _validate(generated_course, wrong)
    assert "VALIDATION FAILED" in report
    assert "logit_nll at eta = 0 differs from the reference" in report
