"""Normalizing flows: transforms with tractable log-determinants, and ``Flow`` distributions.

The sign convention of every ``log_det`` is stated once, in :mod:`course_lib.flows.base`.
"""

from course_lib.flows.base import Compose, Flow, Transform, standard_normal, to_torch_transform
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

__all__ = [
    "Affine",
    "AffineCoupling",
    "CholeskyAffine",
    "Compose",
    "Flow",
    "HouseholderReflection",
    "Permutation",
    "PlanarTransform",
    "RandomPermutation",
    "ReversePermutation",
    "SinhArcsinh",
    "Transform",
    "affine",
    "affine_coupling",
    "mlp",
    "planar_flow",
    "planar_forward",
    "planar_inverse",
    "realnvp",
    "sinh_arcsinh",
    "standard_normal",
    "standardizing_affine",
    "to_torch_transform",
]
