"""course_lib.submission_audit: what the instructor's report flags, and what it leaves alone."""

import nbformat
import pytest
from nbgrader_course import ASSIGNMENTS, REPO, completed_copy, source_notebooks

from course_lib.outside_checks import outside_checks
from course_lib.submission_audit import audit_cells, audit_notebook, graded_tests

LOGIT = REPO / "assignments" / "logit_mle" / "logit_mle.ipynb"
LOGIT_SOURCE = REPO / "solutions" / "logit_mle" / "logit_mle.ipynb"


def _peers(assignment: str) -> tuple:
    checks = outside_checks(assignment)
    return checks.peers if checks else ()


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
        # Where a task asks for a peer library (nflows, geomloss), its use is no flag.
        assert audit_notebook(path, release, _peers(assignment)) == []


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


def _peer_flags(assignment: str, answers: dict[str, str]) -> set[tuple[str, str]]:
    """(kind, cell) of the peer flags of the reference submission with ``answers``."""
    release = REPO / "assignments" / assignment / f"{assignment}.ipynb"
    notebook = completed_copy(release, REPO / "solutions" / assignment / f"{assignment}.ipynb")
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    for cell, source in answers.items():
        cells[cell].source = source
    flags = audit_cells(notebook.cells, graded_tests(release), _peers(assignment))
    return {(flag.kind, flag.cell) for flag in flags if "computes the graded" in flag.kind}


NFLOWS_SPLINE = (
    "uses nflows' rational-quadratic spline, which computes the graded rq_spline_forward"
)
PYRO_SPLINE = "uses Pyro's rational-quadratic spline, which computes the graded rq_spline_forward"
GEOMLOSS = (
    "uses geomloss' Sinkhorn divergence, which computes the graded sinkhorn_cost, "
    "sinkhorn_divergence"
)


@pytest.mark.parametrize(
    ("assignment", "cell", "answer", "kind"),
    [
        (
            "splines",
            "rq_spline_forward",
            "from nflows.transforms.splines.rational_quadratic import (\n"
            "    unconstrained_rational_quadratic_spline as spline)",
            NFLOWS_SPLINE,
        ),
        (
            "splines",
            "rq_spline_forward",
            "from nflows import transforms as T\n"
            "def rq_spline_forward(x, kx, ky, kd):\n"
            "    return T.PiecewiseRationalQuadraticCDF(shape=[1])(x)",
            NFLOWS_SPLINE,
        ),
        (
            "splines",
            "rq_spline_forward",
            "import nflows\nf = nflows.transforms.splines.rational_quadratic_spline",
            NFLOWS_SPLINE,
        ),
        (
            "splines",
            "rq_spline_forward",
            "import pyro.distributions.transforms as T\nspline = T.Spline(1, count_bins=4)",
            PYRO_SPLINE,
        ),
        ("splines", "rq_spline_forward", "from nflows.transforms import *", NFLOWS_SPLINE),
        (
            "splines",
            "rq_spline_forward",
            "from pyro.distributions.transforms.spline import _monotonic_rational_spline",
            PYRO_SPLINE,
        ),
        (
            "sinkhorn",
            "sinkhorn_cost",
            # SamplesLoss is imported by the provided setup cell.
            "def sinkhorn_cost(x, y, blur, iterations=500):\n"
            "    return SamplesLoss('sinkhorn', blur=blur, debias=False)(x, y)",
            GEOMLOSS,
        ),
        (
            "sinkhorn",
            "sinkhorn_divergence",
            "import geomloss\nloss = geomloss.SamplesLoss('sinkhorn')",
            GEOMLOSS,
        ),
        (
            "sinkhorn",
            "sinkhorn_cost",
            "import ot\ncost = ot.sinkhorn2",
            "uses POT's Sinkhorn solver, which computes the graded sinkhorn_cost, "
            "sinkhorn_divergence",
        ),
        (
            "conditional_heads",
            "full_gaussian",
            "def full_gaussian_log_prob(raw, y):\n"
            "    mean, tril = full_gaussian_params(raw)\n"
            "    return torch.distributions.MultivariateNormal(mean, scale_tril=tril).log_prob(y)",
            "uses torch.distributions' multivariate normal, which computes the graded "
            "full_gaussian_log_prob",
        ),
        (
            "logit_mle",
            "logit_nll",
            "def logit_nll(x, y, beta, alpha):\n"
            "    return F.binary_cross_entropy_with_logits(alpha + x @ beta, y)",
            "uses torch's binary cross-entropy with logits, which computes the graded logit_nll",
        ),
        (
            "logit_mle",
            "fit_logit_gd",
            "from sklearn.linear_model import LogisticRegression",
            "uses scikit-learn's logistic regression, which computes the graded fit_logit_gd",
        ),
        (
            "planar_realnvp",
            "planar_forward",
            "from pyro.distributions.transforms import Planar",
            "uses Pyro's planar flow, which computes the graded planar_forward",
        ),
    ],
)
def test_a_peer_library_that_computes_the_answer_is_flagged(assignment, cell, answer, kind):
    assert _peer_flags(assignment, {cell: answer}) == {(kind, cell)}


def test_a_peer_is_no_flag_where_its_task_asks_for_it_or_where_a_name_only_looks_alike():
    # Task 2 of splines asks for nflows or Pyro in fit_spline_flow.
    pyro_flow = (
        "def fit_spline_flow(data, steps=500, lr=0.01, bins=8, bound=4.0, seed=0):\n"
        "    import pyro.distributions.transforms as T\n"
        "    spline = T.Spline(1, count_bins=bins, bound=bound)\n"
    )
    assert _peer_flags("splines", {"fit_spline_flow": pyro_flow}) == set()
    # A local variable named like a library, and the hints' building blocks.
    local = (
        "def sinkhorn_cost(x, y, blur, iterations=500):\n"
        "    ot = torch.cdist(x, y) ** 2 / 2\n"
        "    return ot.geomloss.mean()\n"
    )
    assert _peer_flags("sinkhorn", {"sinkhorn_cost": local}) == set()
    pit = (
        "def gaussian_pit(true, mean, std):\n"
        "    return torch.distributions.Normal(mean, std).cdf(true)\n"
    )
    assert _peer_flags("conditional_heads", {"metrics": pit}) == set()
