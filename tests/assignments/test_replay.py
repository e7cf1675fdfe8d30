"""The outside check: answers run again without their tests and without the graded
references, and are compared with the references in the grader's process.

The reference answers of every assignment that declares outside checks pass them and the
stubs fail them; on the logit assignment, hostile answers that pass in their own kernel
(patched checks, the reference imported, its private helpers, its compiled or source file
read back, a run that notices it is not graded by nbgrader) fail them, and so do answers that
call another library's implementation (nflows' spline, geomloss' Sinkhorn divergence).
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbgrader_course import REPO, completed_copy
from wrong_answers import FULL_GAUSSIAN_PARAMS, WRONG_ANSWERS

from course_lib.class_grading import _policy
from course_lib.outside_checks import OUTSIDE_CHECKS
from course_lib.replay import disabled_source, verify_submission
from course_lib.sandbox import sandbox_problem

pytestmark = pytest.mark.slow

SANDBOX_PROBLEM = sandbox_problem()
SEED = 20261207


def _policy_or_none():
    if SANDBOX_PROBLEM and os.environ.get("CI"):
        pytest.fail(f"the grading sandbox must work on CI: {SANDBOX_PROBLEM}")
    return None if SANDBOX_PROBLEM else _policy(REPO, 4.0, 600)


def _verify(tmp_path: Path, assignment: str, notebook) -> dict:
    release = REPO / "assignments" / assignment / f"{assignment}.ipynb"
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(notebook, path)
    verdicts = verify_submission(
        path,
        release,
        OUTSIDE_CHECKS[assignment],
        seed=SEED,
        policy=_policy_or_none(),
        cell_timeout=60,
    )
    return {verdict.answer: verdict.problem for verdict in verdicts}


def _submission(assignment: str, answers: dict[str, str] | None = None):
    release = REPO / "assignments" / assignment / f"{assignment}.ipynb"
    source = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    return completed_copy(release, source, answers)


def test_disabled_source_keeps_the_module_importable_and_its_functions_refuse():
    source = (
        "import math\n"
        "SCALE = 2.0\n"
        "def double(x):\n    return SCALE * x\n"
        "def _helper(x):\n    return x + 1\n"
        "class Model:\n"
        "    size = 3\n"
        "    def __init__(self):\n        self.w = 1\n"
        "    @property\n    def twice(self):\n        return 2 * self.w\n"
    )
    namespace = {}
    exec(disabled_source(source, "m"), namespace)
    assert namespace["SCALE"] == 2.0 and namespace["Model"].size == 3
    for call, name in (
        (lambda: namespace["double"](1), "m.double"),
        (lambda: namespace["_helper"](1), "m._helper"),
        (namespace["Model"], "m.Model.__init__"),
    ):
        with pytest.raises(PermissionError, match=f"{name} is a graded reference"):
            call()
    partial = {}
    exec(disabled_source(source, "m", ("_helper",)), partial)
    assert partial["double"](3) == 6.0 and partial["Model"]().twice == 2
    with pytest.raises(PermissionError):
        partial["_helper"](1)
    one_method = {}
    exec(disabled_source(source, "m", ("Model.twice",)), one_method)
    model = one_method["Model"]()  # the class still builds
    assert model.w == 1 and one_method["double"](3) == 6.0
    with pytest.raises(PermissionError, match="m.Model.twice is a graded reference"):
        _ = model.twice


@pytest.mark.parametrize("assignment", sorted(OUTSIDE_CHECKS))
def test_reference_answers_pass_and_stubs_fail(tmp_path, assignment):
    assert _verify(tmp_path, assignment, _submission(assignment)) == {
        answer.name: None for answer in OUTSIDE_CHECKS[assignment].answers
    }
    release = REPO / "assignments" / assignment / f"{assignment}.ipynb"
    stub = _verify(tmp_path, assignment, nbformat.read(release, as_version=4))
    assert all("NotImplementedError" in problem for problem in stub.values()), stub


def test_every_checked_test_exists_in_its_notebook():
    for assignment, checks in OUTSIDE_CHECKS.items():
        release = REPO / "assignments" / assignment / f"{assignment}.ipynb"
        ids = {
            c.metadata.get("nbgrader", {}).get("grade_id")
            for c in nbformat.read(release, as_version=4).cells
        }
        for answer in checks.answers:
            assert set(answer.tests) <= ids, (assignment, answer.name)


def test_cells_that_may_use_a_peer_do_not_run_in_the_outside_check():
    """Where a task asks for a peer library (nflows or Pyro for the spline flow, geomloss for
    the generator), its cell comes after the tests of every checked answer: the outside check
    stops before it, so the disabled peer cannot break it or the provided cells that call it."""
    for assignment, checks in OUTSIDE_CHECKS.items():
        release = REPO / "assignments" / assignment / f"{assignment}.ipynb"
        ids = [
            c.metadata.get("nbgrader", {}).get("grade_id")
            for c in nbformat.read(release, as_version=4).cells
        ]
        last = max(ids.index(answer.tests[0]) for answer in checks.answers)
        for peer in checks.peers:
            for cell in peer.allowed:
                assert cell in ids and ids.index(cell) > last, (assignment, peer.what, cell)


SUMMED, _ = WRONG_ANSWERS["logit_mle"]["c_summed_loss"]
PATCH_CHECKS = (
    "import course_lib.grading\n"
    "course_lib.grading.check_close = lambda *args, **kwargs: None\n"
    "course_lib.grading.check_function = lambda *args, **kwargs: None\n"
)
HOSTILE = {
    # A wrong answer behind patched checks: full marks in its kernel.
    "patched_checks": (PATCH_CHECKS + SUMMED["logit_nll"], "differs from the reference"),
    "imported_reference": ("from course_lib.logit import logit_nll\n", "graded reference"),
    "private_helper": (
        "import torch\nfrom course_lib.logit import _design, _sum_nll\n"
        "def logit_nll(x, y, beta, alpha):\n"
        "    theta = torch.cat([torch.as_tensor(alpha).reshape(1), beta])\n"
        "    return torch.as_tensor(_sum_nll(_design(x), y, theta) / len(y))\n",
        "graded reference",
    ),
    "compiled_reference": (
        "import glob, marshal, course_lib\n"
        "found = glob.glob(course_lib.__path__[0] + '/__pycache__/logit.*.pyc')\n"
        "scope = {'__name__': 'stolen'}\n"
        "exec(marshal.loads(open(found[0], 'rb').read()[16:]), scope)\n"
        "logit_nll = scope['logit_nll']\n",
        "logit_nll",
    ),
    "source_of_reference": (
        "import importlib.util, sys, course_lib\n"
        "spec = importlib.util.spec_from_file_location(\n"
        "    'stolen', course_lib.__path__[0] + '/logit.py')\n"
        "stolen = sys.modules['stolen'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(stolen)\n"
        "logit_nll = stolen.logit_nll\n",
        "graded reference",
    ),
    "notices_the_check": (
        "import os, sys\n"
        "if 'ipykernel' not in sys.modules:\n    os._exit(0)\n"
        "from course_lib.logit import logit_nll\n",
        "never reached",
    ),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_answers_fail_outside(tmp_path, attack):
    if attack != "patched_checks" and SANDBOX_PROBLEM:
        pytest.skip(f"the references stay readable without a sandbox: {SANDBOX_PROBLEM}")
    code, why = HOSTILE[attack]
    verdicts = _verify(tmp_path, "logit_mle", _submission("logit_mle", {"logit_nll": code}))
    assert verdicts["logit_nll"] is not None and why in verdicts["logit_nll"], verdicts
    if attack != "notices_the_check":  # that one ends the run before the other answers
        # The other answers are the student's own and still pass.
        assert verdicts["logit_standard_errors"] is None, verdicts


def test_a_crash_after_the_checked_answers_costs_nothing(tmp_path):
    verdicts = _verify(
        tmp_path, "logit_mle", _submission("logit_mle", {"report": "import os\nos._exit(0)\n"})
    )
    assert set(verdicts.values()) == {None}


# Answers that hand in another library's implementation (a peer): they pass the notebook's
# tests in their own kernel (checked below), but not outside it.
NFLOWS_SPLINE = (
    "import torch\n"
    "from nflows.transforms.splines.rational_quadratic import (\n"
    "    unconstrained_rational_quadratic_spline,\n"
    ")\n\n\n"
    "def rq_spline_forward(x, knot_x, knot_y, knot_d):\n"
    "    bound = float(knot_x[-1])\n"
    "    shape = (*x.shape, len(knot_x) - 1)\n"
    "    widths = torch.log(torch.diff(knot_x) / (2 * bound)).expand(shape)\n"
    "    heights = torch.log(torch.diff(knot_y) / (2 * bound)).expand(shape)\n"
    "    slopes = torch.log(torch.expm1(knot_d[1:-1])).expand(*x.shape, len(knot_x) - 2)\n"
    "    return unconstrained_rational_quadratic_spline(\n"
    "        x, widths, heights, slopes, tails='linear', tail_bound=bound,\n"
    "        min_bin_width=1e-12, min_bin_height=1e-12, min_derivative=1e-12)\n"
)
GEOMLOSS_COST = (  # SamplesLoss comes from the notebook's provided setup cell
    "def sinkhorn_cost(x, y, blur, iterations=500):\n"
    "    return SamplesLoss('sinkhorn', p=2, blur=blur, debias=False, scaling=0.99)(x, y)\n"
)
GEOMLOSS_DIVERGENCE = (
    "def sinkhorn_divergence(x, y, blur, iterations=500):\n"
    "    return SamplesLoss('sinkhorn', p=2, blur=blur, scaling=0.99)(x, y)\n"
)
MULTIVARIATE_NORMAL = (  # the parameters are the student's own; the log-density is not
    "import math\n"
    "import torch\n"
    "import torch.nn.functional as F\n\n\n"
    + FULL_GAUSSIAN_PARAMS
    + "def full_gaussian_log_prob(raw, y):\n"
    "    mean, tril = full_gaussian_params(raw)\n"
    "    return torch.distributions.MultivariateNormal(mean, scale_tril=tril).log_prob(y)\n"
)
# assignment -> (answer cells, the provided imports they rely on, the peer's module, the
# answers that call the peer); the other answers are the reference's.
PEER_ATTACKS = {
    "splines": (
        {"rq_spline_forward": NFLOWS_SPLINE},
        "import torch\n",
        "nflows.transforms.splines",
        ("rq_spline_forward",),
    ),
    "sinkhorn": (
        {"sinkhorn_cost": GEOMLOSS_COST, "sinkhorn_divergence": GEOMLOSS_DIVERGENCE},
        "from geomloss import SamplesLoss\n",
        "geomloss",
        ("sinkhorn_cost", "sinkhorn_divergence"),
    ),
    "conditional_heads": (
        {"full_gaussian": MULTIVARIATE_NORMAL},
        "",
        "torch.distributions.multivariate_normal",
        ("full_gaussian_log_prob",),
    ),
}


@pytest.mark.parametrize("assignment", sorted(PEER_ATTACKS))
def test_answers_that_call_a_peer_library_fail_outside(tmp_path, assignment):
    from course_lib.grading import check_function

    cells, setup, library, attacked = PEER_ATTACKS[assignment]
    checks = OUTSIDE_CHECKS[assignment]
    scope = {}
    exec(setup + "".join(cells.values()), scope)
    for answer in checks.answers:  # in the kernel, the peer gives the reference's values
        if answer.name in attacked:
            check_function(
                scope[answer.name],
                answer.reference,
                answer.cases(SEED),
                name=answer.name,
                rtol=answer.rtol,
                atol=answer.atol,
            )
    if SANDBOX_PROBLEM:
        pytest.skip(f"the peers stay readable without a sandbox: {SANDBOX_PROBLEM}")
    verdicts = _verify(tmp_path, assignment, _submission(assignment, cells))
    (peer,) = [p for p in checks.peers if any(m.startswith(library) for m in p.disabled)]
    for answer in checks.answers:
        problem = verdicts[answer.name]
        if answer.name not in attacked:
            assert problem is None, verdicts
            continue
        assert problem and f"PermissionError: {library}." in problem, verdicts
        assert f"computes a graded answer ({', '.join(peer.answers)})" in problem, problem
