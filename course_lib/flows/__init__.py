"""Normalizing flows: transforms with tractable log-determinants, and ``Flow`` distributions.

The sign convention of every ``log_det`` is stated once, in :mod:`course_lib.flows.base`.
"""

from course_lib.flows.autoregressive import IAF, MADE, MAF, ConditionalFlow, iaf, made_masks, maf
from course_lib.flows.base import Compose, Flow, Transform, standard_normal, to_torch_transform
from course_lib.flows.continuous import (
    CNF,
    ConcatLinear,
    ConcatSquashLinear,
    ContinuousTransform,
    HyperPlanarDynamics,
    TimeMLP,
    cnf,
    exact_trace,
    hutchinson_trace,
)
from course_lib.flows.coupling import AffineCoupling, affine_coupling, mlp, realnvp
from course_lib.flows.elementwise import (
    Affine,
    SinhArcsinh,
    affine,
    sinh_arcsinh,
    standardizing_affine,
)
from course_lib.flows.linear import (
    CholeskyAffine,
    HouseholderReflection,
    Permutation,
    RandomPermutation,
    ReversePermutation,
)
from course_lib.flows.planar import PlanarTransform, planar_flow, planar_forward, planar_inverse
from course_lib.flows.splines import (
    RQSpline,
    SplineAutoregressive,
    SplineCoupling,
    neural_spline_flow,
    rq_spline,
)

__all__ = [
    "Affine",
    "AffineCoupling",
    "CNF",
    "CholeskyAffine",
    "Compose",
    "ConcatLinear",
    "ConcatSquashLinear",
    "ConditionalFlow",
    "ContinuousTransform",
    "Flow",
    "HouseholderReflection",
    "HyperPlanarDynamics",
    "IAF",
    "MADE",
    "MAF",
    "Permutation",
    "PlanarTransform",
    "RQSpline",
    "RandomPermutation",
    "ReversePermutation",
    "SinhArcsinh",
    "SplineAutoregressive",
    "SplineCoupling",
    "TimeMLP",
    "Transform",
    "affine",
    "affine_coupling",
    "cnf",
    "exact_trace",
    "hutchinson_trace",
    "iaf",
    "made_masks",
    "maf",
    "mlp",
    "neural_spline_flow",
    "planar_flow",
    "planar_forward",
    "planar_inverse",
    "realnvp",
    "rq_spline",
    "sinh_arcsinh",
    "standard_normal",
    "standardizing_affine",
    "to_torch_transform",
]
