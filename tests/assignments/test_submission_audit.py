"""course_lib.submission_audit: what the instructor's report flags, and what it leaves alone."""

import nbformat
import pytest
from nbgrader_course import ASSIGNMENTS, REPO, completed_copy, source_notebooks

from course_lib.submission_audit import audit_cells, audit_notebook, graded_tests

LOGIT = REPO / "assignments" / "logit_mle" / "logit_mle.ipynb"
LOGIT_SOURCE = REPO / "solutions" / "logit_mle" / "logit_mle.ipynb"


def _kinds(answer: str) -> set[str]:
    """Flags of the logit submission whose first answer (logit_nll) is ``answer``."""
    notebook = completed_copy(LOGIT, LOGIT_SOURCE, {"logit_nll": answer})
    return {flag.kind for flag in audit_cells(notebook.cells, graded_tests(LOGIT))}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_reference_answers_raise_no_flag(assignment, tmp_path):
    for name in source_notebooks(assignment):
        release = REPO / "assignments" / assignment / name
        path = tmp_path / name
        nbformat.write(completed_copy(release, REPO / "solutions" / assignment / name), path)
        assert audit_notebook(path, release) == []


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ("import os\nos._exit(0)", "kills the kernel"),
        ("import sys\nsys.exit()", "leaves the kernel"),
        (
            "import numpy\nnumpy.testing.assert_allclose = print",
            "patches numpy.testing.assert_allclose",
        ),
        ("import torch\ntorch.allclose = lambda *a, **k: True", "patches torch.allclose"),
        ("import course_lib.grading as g\nsetattr(g, 'check_close', print)", "patches an object"),
        ("from course_lib.logit import logit_nll", "uses the graded reference course_lib.logit"),
        ("import course_lib.flows", "uses the graded reference course_lib.flows"),
        (
            "import sys\nsys.modules['course_lib.grading'] = None",
            "replaces a module in sys.modules",
        ),
        ("text = open('../solutions/logit_mle/logit_mle.ipynb').read()", "accesses files"),
        (
            "text = open('../solutions/logit_mle/logit_mle.ipynb').read()",
            "names the instructor's folders",
        ),
        (
            "import socket\nsocket.create_connection(('example.org', 80))",
            "opens network connections",
        ),
        (
            "import os\nif os.environ.get('NBGRADER_EXECUTION'): pass",
            "reads the grading environment",
        ),
        ("import subprocess", "runs commands"),
        ("!cat /etc/passwd", "runs shell commands"),
        ("def logit_nll(x, y, beta, alpha)\n    return 0", "is not valid Python"),
    ],
)
def test_hostile_code_is_flagged(answer, kind):
    assert kind in _kinds(answer)


def test_honest_code_that_uses_allowed_helpers_is_not_flagged():
    answer = (
        "from course_lib.training import fit\n"
        "import torch.nn.functional as F\n"
        "def logit_nll(x, y, beta, alpha):\n"
        "    eta = alpha + x @ beta\n"
        "    return -(y * F.logsigmoid(eta) + (1 - y) * F.logsigmoid(-eta)).mean()\n"
    )
    assert _kinds(answer) == set()


def test_tampered_test_cells_are_flagged():
    notebook = completed_copy(LOGIT, LOGIT_SOURCE)
    tests = graded_tests(LOGIT)
    cells = notebook.cells
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(cells)}
    cells[by_id["test_logit_nll"]].source = "pass"
    cells[by_id["test_report"]].cell_type = "markdown"
    del cells[by_id["test_fit_logit_gd"]]
    cells.append(nbformat.from_dict(dict(cells[by_id["logit_nll"]])))
    found = {(flag.kind, flag.cell) for flag in audit_cells(cells, tests)}
    assert ("edited a test cell", "test_logit_nll") in found
    assert ("turned a test cell into markdown", "test_report") in found
    assert ("deleted a test cell", "test_fit_logit_gd") in found
    assert ("copies a graded cell (duplicate id)", "logit_nll") in found


def test_an_unreadable_submission_names_itself(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.ipynb is not a readable notebook"):
        audit_notebook(broken, LOGIT)
