"""Per assignment: the answers checked outside the student's kernel, and the references
disabled while they run (see :mod:`course_lib.replay`).

Each answer is compared with the reference on cases drawn like the notebook's hidden tests,
with the same tolerances, from a seed the student does not know. The disabled modules are
the ones that hold what the answers must not borrow: the reference implementations, and
the grading helpers that wrap them.

The peers are other libraries' implementations of the same answers (nflows' spline,
geomloss' Sinkhorn loop): they refuse to run like the references (the notebooks' provided
cells that run before the checked answers do not need them), and the audit flags the
student's code that uses them outside the cells whose task asks for that library. Not peers:
the building blocks the notebooks ask for or allow (``torch.searchsorted``,
``torch.logsumexp``, ``F.logsigmoid``, ``torch.distributions.Normal(...).cdf``,
``torch.autograd``, torchdiffeq's ``odeint``), and transforms that differ from the graded
ones (nflows' affine coupling squashes its scale with a sigmoid). The cnf and drift_ls
answers have no peer among the course's libraries.
"""

from __future__ import annotations

import importlib

import torch

from course_lib import grading
from course_lib.datasets import binary_choice
from course_lib.replay import Answer, OutsideChecks, Peer

__all__ = ["OUTSIDE_CHECKS", "divergence_of_dynamics", "outside_checks"]


def _imported(module: str, name: str):
    """``module.name``, imported when called: the references are needed only by the grader,
    and this module is also imported where they are disabled."""

    def function(*args):
        return getattr(importlib.import_module(module), name)(*args)

    return function


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


def _float64_planar_cases(seed: int) -> list[tuple]:
    return [case for case in grading.planar_cases(seed) if case[0].dtype == torch.float64]


def _coupling(inverse: bool):
    def reference(z, mask, conditioner):
        from course_lib.flows import affine_coupling

        return affine_coupling(z, mask, conditioner, inverse=inverse)

    return reference


def _sinkhorn(debias: bool):
    def reference(x, y, blur):
        return grading.geomloss_sinkhorn(x, y, blur, debias=debias)

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


def _in(modules: tuple[str, ...], names: tuple[str, ...]) -> tuple[str, ...]:
    """Every ``module.name``: the places a library exports the same object from."""
    return tuple(f"{module}.{name}" for module in modules for name in names)


_PYRO_TRANSFORMS = "pyro.distributions.transforms"

_NFLOWS_SPLINE = Peer(
    "nflows' rational-quadratic spline",
    ("rq_spline_forward",),
    (
        "nflows.transforms.splines",
        *_in(
            ("nflows.transforms", "nflows.transforms.nonlinearities"),
            ("PiecewiseRationalQuadraticCDF",),
        ),
        *_in(
            ("nflows.transforms", "nflows.transforms.autoregressive"),
            ("MaskedPiecewiseRationalQuadraticAutoregressiveTransform",),
        ),
        *_in(
            ("nflows.transforms", "nflows.transforms.coupling"),
            ("PiecewiseRationalQuadraticCouplingTransform",),
        ),
    ),
    disabled={"nflows.transforms.splines.rational_quadratic": None},
    allowed=("fit_spline_flow",),  # the task asks for nflows or Pyro there
)
_PYRO_SPLINE = Peer(
    "Pyro's rational-quadratic spline",
    ("rq_spline_forward",),
    (
        f"{_PYRO_TRANSFORMS}.spline",
        f"{_PYRO_TRANSFORMS}.spline_autoregressive",
        f"{_PYRO_TRANSFORMS}.spline_coupling",
        *_in(
            (_PYRO_TRANSFORMS,),
            (
                "ConditionalSpline",
                "ConditionalSplineAutoregressive",
                "Spline",
                "SplineAutoregressive",
                "SplineCoupling",
                "conditional_spline",
                "conditional_spline_autoregressive",
            ),
        ),
    ),
    disabled={f"{_PYRO_TRANSFORMS}.spline": None},
    allowed=("fit_spline_flow",),
)
_ZUKO_SPLINE = Peer(
    "zuko's rational-quadratic spline",
    ("rq_spline_forward",),
    ("zuko.transforms.MonotonicRQSTransform", "zuko.flows.NSF", "zuko.flows.spline"),
    disabled={"zuko.transforms": ("MonotonicRQSTransform",)},
    allowed=("fit_spline_flow",),
)
_GEOMLOSS = Peer(
    "geomloss' Sinkhorn divergence",
    ("sinkhorn_cost", "sinkhorn_divergence"),
    ("geomloss",),
    disabled={
        "geomloss._legacy.samples_loss": ("SamplesLoss",),
        "geomloss._legacy.sinkhorn_divergence": None,
        "geomloss._legacy.sinkhorn_samples": None,
        "geomloss.ot._abstract_solvers.sinkhorn_ot": None,
    },
    allowed=("train_pushforward",),  # the task asks for geomloss' SamplesLoss there
)
_POT = Peer(
    "POT's Sinkhorn solver",
    ("sinkhorn_cost", "sinkhorn_divergence"),
    ("ot.sinkhorn", "ot.sinkhorn2", "ot.bregman", "ot.solve", "ot.solve_sample"),
    disabled={"ot.bregman": None},
)
_BCE_WITH_LOGITS = Peer(
    # Flagged only: a torch operator, also reachable as torch.binary_cross_entropy_with_logits.
    "torch's binary cross-entropy with logits",
    ("logit_nll",),
    (
        "torch.nn.functional.binary_cross_entropy_with_logits",
        "torch.binary_cross_entropy_with_logits",
        "torch.nn.BCEWithLogitsLoss",
    ),
)
_SKLEARN_LOGIT = Peer(
    "scikit-learn's logistic regression",
    ("fit_logit_gd",),
    (
        "sklearn.linear_model.LogisticRegression",
        "sklearn.linear_model.LogisticRegressionCV",
        "sklearn.linear_model._logistic",
    ),
    disabled={
        "sklearn.linear_model._logistic": (
            "LogisticRegression",
            "LogisticRegressionCV",
            "_logistic_regression_path",
        ),
    },
)
_STATSMODELS_LOGIT = Peer(
    "statsmodels' logit",
    ("fit_logit_gd", "logit_standard_errors"),
    (
        "statsmodels.api.Logit",
        "statsmodels.discrete.discrete_model.Logit",
        "statsmodels.formula.api.logit",
    ),
    disabled={"statsmodels.discrete.discrete_model": ("Logit",)},
)
_PYRO_PLANAR = Peer(
    "Pyro's planar flow",
    ("planar_forward",),
    (
        f"{_PYRO_TRANSFORMS}.planar",
        *_in((_PYRO_TRANSFORMS,), ("ConditionalPlanar", "Planar", "conditional_planar")),
    ),
    disabled={f"{_PYRO_TRANSFORMS}.planar": None},
)
_PYRO_COUPLING = Peer(
    # Its log-scale clamp differs, but a conditioner that bounds the log-scale makes it one.
    "Pyro's affine coupling",
    ("coupling_forward", "coupling_inverse"),
    (
        f"{_PYRO_TRANSFORMS}.affine_coupling",
        *_in(
            (_PYRO_TRANSFORMS,),
            ("AffineCoupling", "ConditionalAffineCoupling", "conditional_affine_coupling"),
        ),
    ),
    disabled={f"{_PYRO_TRANSFORMS}.affine_coupling": None},
)
_MULTIVARIATE_NORMAL = Peer(
    # The notebook asks for the formula, "not with torch.distributions" (checking with it is
    # allowed: best in a cell of its own, since it refuses to run in the outside check).
    "torch.distributions' multivariate normal",
    ("full_gaussian_log_prob",),
    (
        *_in(
            ("torch.distributions", "pyro.distributions"),
            ("LowRankMultivariateNormal", "MultivariateNormal"),
        ),
        "torch.distributions.lowrank_multivariate_normal",
        "torch.distributions.multivariate_normal",
    ),
    disabled={
        "torch.distributions.multivariate_normal": ("MultivariateNormal",),
        "torch.distributions.lowrank_multivariate_normal": ("LowRankMultivariateNormal",),
    },
)


OUTSIDE_CHECKS: dict[str, OutsideChecks] = {
    "drift_ls": OutsideChecks(
        answers=(
            Answer(
                "ls_transform",
                ("test_ls_transform",),
                _imported("course_lib.drift_cases", "ls_cases"),
                _imported("course_lib.drift_cases", "ls_transform_reference"),
                rtol=1e-5,
                atol=1e-5,
            ),
            Answer(
                "ls_nll",
                ("test_ls_nll",),
                _imported("course_lib.drift_cases", "ls_cases"),
                _imported("course_lib.drift_cases", "ls_nll_reference"),
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
                _imported("course_lib.logit", "logit_nll"),
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
                _imported("course_lib.logit", "standard_errors"),
                rtol=1e-5,
            ),
        ),
        disabled={"course_lib.logit": None},
        peers=(_BCE_WITH_LOGITS, _SKLEARN_LOGIT, _STATSMODELS_LOGIT),
    ),
    "planar_realnvp": OutsideChecks(
        answers=(
            Answer(
                "planar_forward",
                ("test_planar_forward",),
                grading.planar_cases,
                _imported("course_lib.flows", "planar_forward"),
                rtol=1e-4,
                atol=1e-5,
            ),
            Answer(
                "planar_inverse",
                ("test_planar_inverse",),
                _float64_planar_cases,
                _imported("course_lib.flows", "planar_inverse"),
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
        peers=(_PYRO_PLANAR, _PYRO_COUPLING),
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
        peers=(_GEOMLOSS, _POT),
    ),
    "conditional_heads": OutsideChecks(
        answers=(
            Answer(
                "full_gaussian_params",
                ("test_full_gaussian_params",),
                _imported("course_lib.conditional_cases", "params_cases"),
                _imported("course_lib.conditional_cases", "reference_full_gaussian_params"),
                rtol=1e-5,
                atol=1e-6,
            ),
            Answer(
                "full_gaussian_log_prob",
                ("test_full_gaussian_log_prob",),
                _imported("course_lib.conditional_cases", "full_gaussian_cases"),
                _imported("course_lib.conditional_cases", "reference_full_gaussian_log_prob"),
                rtol=1e-4,
                atol=1e-4,
            ),
            Answer(
                "pulls",
                ("test_pulls",),
                _imported("course_lib.conditional_cases", "pit_cases"),
                _imported("course_lib.conditional_cases", "reference_pulls"),
                rtol=1e-6,
                atol=1e-6,
            ),
            Answer(
                "gaussian_pit",
                ("test_pit_coverage",),
                _imported("course_lib.conditional_cases", "pit_cases"),
                _imported("course_lib.conditional_cases", "gaussian_pit_reference"),
                rtol=1e-5,
                atol=1e-6,
            ),
            Answer(
                "coverage",
                ("test_pit_coverage",),
                _imported("course_lib.conditional_cases", "coverage_cases"),
                _imported("course_lib.conditional_cases", "reference_coverage"),
                rtol=1e-6,
                atol=1e-6,
            ),
        ),
        disabled={
            "course_lib.conditional_cases": None,
            "course_lib.conditional.heads": ("_tril_from_vector", "FullGaussianHead"),
            "course_lib.conditional.metrics": None,
        },
        peers=(_MULTIVARIATE_NORMAL,),
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
        peers=(_NFLOWS_SPLINE, _PYRO_SPLINE, _ZUKO_SPLINE),
    ),
    "cnf": OutsideChecks(
        answers=(
            Answer(
                "divergence",
                ("test_divergence", "test_divergence_gradient"),
                _imported("course_lib.cnf_cases", "divergence_cases"),
                _imported("course_lib.cnf_cases", "jacobian_trace"),
                rtol=1e-4,
                atol=1e-5,
                call=divergence_of_dynamics,
            ),
            Answer(
                "augmented_dynamics",
                ("test_augmented",),
                _augmented_cases,
                _imported("course_lib.cnf_cases", "augmented_reference"),
            ),
            Answer(
                "cnf_log_prob",
                ("test_log_prob", "test_log_prob_exact"),
                _imported("course_lib.cnf_cases", "log_prob_cases"),
                _imported("course_lib.cnf_cases", "log_prob_reference"),
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
                "HyperPlanarDynamics.velocity_and_trace",
                "TimeMLP.velocity_and_trace",
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
