"""Per assignment: the answers checked outside the student's kernel, and the references
disabled while they run (see :mod:`course_lib.replay`).

Each answer is compared with the reference on cases drawn like the notebook's hidden tests,
with the same tolerances, from a seed the student does not know. The disabled modules are
the ones that hold what the answers must not borrow: the reference implementations, and
the grading helpers that wrap them.
"""

from __future__ import annotations

import torch

from course_lib import grading
from course_lib.datasets import binary_choice
from course_lib.replay import Answer, OutsideChecks

__all__ = ["OUTSIDE_CHECKS", "divergence_of_dynamics", "outside_checks"]


def _logit_fits(seed: int) -> list[tuple]:
    """``(x, y)`` of two small logit data sets (one and three regressors)."""
    generator = torch.Generator().manual_seed(seed)
    cases = []
    for features, n in ((1, 500), (3, 600)):
        beta = (torch.randn(features, generator=generator, dtype=torch.float64) * 0.8).tolist()
        data = binary_choice(n=n, beta=beta, alpha=0.3, seed=seed + features)
        cases.append((data.x, data.y))
    return cases


def _logit_at_the_fit(seed: int) -> list[tuple]:
    from course_lib.logit import newton_logit

    cases = []
    for x, y in _logit_fits(seed):
        fit = newton_logit(x, y)
        cases.append((x, y, fit.beta, torch.tensor(fit.alpha, dtype=torch.float64)))
    return cases


def _newton_estimates(x, y):
    from course_lib.logit import newton_logit

    fit = newton_logit(x, y)
    return fit.beta.to(x.dtype), torch.tensor(fit.alpha, dtype=x.dtype)


def _logit_nll(*args):
    from course_lib.logit import logit_nll

    return logit_nll(*args)


def _standard_errors(*args):
    from course_lib.logit import standard_errors

    return standard_errors(*args)


def _planar_forward(*args):
    from course_lib.flows import planar_forward

    return planar_forward(*args)


def _planar_inverse(*args):
    from course_lib.flows import planar_inverse

    return planar_inverse(*args)


def _float64_planar_cases(seed: int) -> list[tuple]:
    return [case for case in grading.planar_cases(seed) if case[0].dtype == torch.float64]


def _coupling(inverse: bool):
    def reference(z, mask, conditioner):
        from course_lib.flows import affine_coupling

        return affine_coupling(z, mask, conditioner, inverse=inverse)

    return reference


def _conditional(name: str):
    """The reference ``name`` of :mod:`course_lib.conditional_cases`, imported when called."""

    def function(*args):
        from course_lib import conditional_cases

        return getattr(conditional_cases, name)(*args)

    return function


def _sinkhorn(debias: bool):
    def reference(x, y, blur):
        return grading.geomloss_sinkhorn(x, y, blur, debias=debias)

    return reference


def _ls_cases(seed: int) -> list[tuple]:
    from course_lib.drift_cases import ls_cases

    return ls_cases(seed)


def _ls_transform(*args):
    from course_lib.drift_cases import ls_transform_reference

    return ls_transform_reference(*args)


def _ls_nll(*args):
    from course_lib.drift_cases import ls_nll_reference

    return ls_nll_reference(*args)


def _cnf(name: str):
    """A function of course_lib.cnf_cases, imported when called (it is disabled in replays)."""

    def reference(*args):
        from course_lib import cnf_cases

        return getattr(cnf_cases, name)(*args)

    return reference


def _augmented_cases(seed: int) -> list[tuple]:
    """``(f, t, (z, log_p))`` from the divergence cases, with a seeded ``log_p``."""
    from course_lib.cnf_cases import divergence_cases

    generator = torch.Generator().manual_seed(seed)
    return [
        (f, t, (z, torch.randn(z.shape[0], generator=generator, dtype=torch.float64).to(z.dtype)))
        for f, t, z in divergence_cases(seed)
    ]


def divergence_of_dynamics(divergence, f, t, z):
    """How the cnf notebook's tests call ``divergence``: on ``f(t, z)`` and a fresh ``z``."""
    z = z.detach().clone().requires_grad_(True)
    return divergence(f(t, z), z)


def _divergence_cases(seed: int) -> list[tuple]:
    from course_lib.cnf_cases import divergence_cases

    return divergence_cases(seed)


def _log_prob_cases(seed: int) -> list[tuple]:
    from course_lib.cnf_cases import log_prob_cases

    return log_prob_cases(seed)


OUTSIDE_CHECKS: dict[str, OutsideChecks] = {
    "drift_ls": OutsideChecks(
        answers=(
            Answer(
                "ls_transform",
                ("test_ls_transform",),
                _ls_cases,
                _ls_transform,
                rtol=1e-5,
                atol=1e-5,
            ),
            Answer(
                "ls_nll",
                ("test_ls_nll",),
                _ls_cases,
                _ls_nll,
                rtol=1e-5,
                atol=1e-5,
            ),
        ),
        disabled={
            "course_lib.drift_cases": (
                "_Given",
                "_library_transform",
                "ls_nll_reference",
                "ls_transform_reference",
            ),
        },
    ),
    "logit_mle": OutsideChecks(
        answers=(
            Answer(
                "logit_nll",
                ("test_logit_nll", "test_logit_nll_extreme"),
                lambda seed: (
                    grading.logit_cases(seed) + grading.logit_cases(seed + 1, extreme=True)
                ),
                _logit_nll,
            ),
            Answer(
                "fit_logit_gd",
                ("test_fit_logit_gd",),
                _logit_fits,
                _newton_estimates,
                rtol=0.0,
                atol=5e-3,
            ),
            Answer(
                "logit_standard_errors",
                ("test_logit_standard_errors",),
                _logit_at_the_fit,
                _standard_errors,
                rtol=1e-5,
            ),
        ),
        disabled={"course_lib.logit": None},
    ),
    "planar_realnvp": OutsideChecks(
        answers=(
            Answer(
                "planar_forward",
                ("test_planar_forward",),
                grading.planar_cases,
                _planar_forward,
                rtol=1e-4,
                atol=1e-5,
            ),
            Answer(
                "planar_inverse",
                ("test_planar_inverse",),
                _float64_planar_cases,
                _planar_inverse,
                rtol=1e-6,
                atol=1e-6,
            ),
            Answer(
                "coupling_forward", ("test_coupling",), grading.coupling_cases, _coupling(False)
            ),
            Answer(
                "coupling_inverse", ("test_coupling",), grading.coupling_cases, _coupling(True)
            ),
        ),
        disabled={
            "course_lib.flows.planar": None,
            "course_lib.flows.coupling": (
                "_Coupling",
                "_affine_transformer",
                "_coupling",
                "AffineCoupling",
                "affine_coupling",
                "realnvp",
            ),
        },
    ),
    "sinkhorn": OutsideChecks(
        answers=(
            Answer(
                "sinkhorn_cost",
                ("test_sinkhorn_cost",),
                grading.sinkhorn_cases,
                _sinkhorn(False),
                rtol=1e-3,
                atol=1e-3,
            ),
            Answer(
                "sinkhorn_divergence",
                ("test_sinkhorn_divergence", "test_sinkhorn_closed_form"),
                grading.sinkhorn_cases,
                _sinkhorn(True),
                rtol=1e-3,
                atol=1e-3,
            ),
        ),
        disabled={
            "course_lib.transport.sinkhorn": None,
            "course_lib.grading": ("geomloss_sinkhorn",),
        },
    ),
    "conditional_heads": OutsideChecks(
        answers=(
            Answer(
                "full_gaussian_params",
                ("test_full_gaussian_params",),
                _conditional("params_cases"),
                _conditional("reference_full_gaussian_params"),
                rtol=1e-5,
                atol=1e-6,
            ),
            Answer(
                "full_gaussian_log_prob",
                ("test_full_gaussian_log_prob",),
                _conditional("full_gaussian_cases"),
                _conditional("reference_full_gaussian_log_prob"),
                rtol=1e-4,
                atol=1e-4,
            ),
            Answer(
                "pulls",
                ("test_pulls",),
                _conditional("pit_cases"),
                _conditional("reference_pulls"),
                rtol=1e-6,
                atol=1e-6,
            ),
            Answer(
                "gaussian_pit",
                ("test_pit_coverage",),
                _conditional("pit_cases"),
                _conditional("gaussian_pit_reference"),
                rtol=1e-5,
                atol=1e-6,
            ),
            Answer(
                "coverage",
                ("test_pit_coverage",),
                _conditional("coverage_cases"),
                _conditional("reference_coverage"),
                rtol=1e-6,
                atol=1e-6,
            ),
        ),
        disabled={
            "course_lib.conditional_cases": None,
            "course_lib.conditional.heads": ("_tril_from_vector", "FullGaussianHead"),
            "course_lib.conditional.metrics": None,
        },
    ),
    "splines": OutsideChecks(
        answers=(
            Answer(
                "rq_spline_forward",
                ("test_spline_values", "test_spline_log_derivative", "test_spline_tails"),
                grading.spline_cases,
                grading.rq_spline_from_knots,
                rtol=1e-5,
                atol=1e-5,
            ),
        ),
        disabled={
            "course_lib.flows.splines": (
                "_rq_spline",
                "_spline_transformer",
                "RQSpline",
                "SplineAutoregressive",
                "SplineCoupling",
                "neural_spline_flow",
                "rq_spline",
            ),
            "course_lib.grading": ("rq_spline_from_knots",),
        },
    ),
    "cnf": OutsideChecks(
        answers=(
            Answer(
                "divergence",
                ("test_divergence", "test_divergence_gradient"),
                _divergence_cases,
                _cnf("jacobian_trace"),
                rtol=1e-4,
                atol=1e-5,
                call=divergence_of_dynamics,
            ),
            Answer(
                "augmented_dynamics",
                ("test_augmented",),
                _augmented_cases,
                _cnf("augmented_reference"),
            ),
            Answer(
                "cnf_log_prob",
                ("test_log_prob", "test_log_prob_exact"),
                _log_prob_cases,
                _cnf("log_prob_reference"),
                rtol=1e-4,
                atol=1e-4,
            ),
        ),
        disabled={
            "course_lib.cnf_cases": (
                "augmented_reference",
                "jacobian_trace",
                "linear_log_prob",
                "log_prob_reference",
            ),
            "course_lib.flows.continuous": (
                "CNF",
                "ContinuousTransform",
                "_Augmented",
                "cnf",
                "exact_trace",
                "hutchinson_trace",
            ),
        },
    ),
}


def outside_checks(assignment: str) -> OutsideChecks | None:
    """The outside checks of ``assignment``, or None if it declares none."""
    return OUTSIDE_CHECKS.get(assignment)
