r"""Base distributions :math:`F_Z` of a transformation model: log-density, CDF and quantile.

A transformation model states :math:`h(Y \mid x) \sim F_Z`, so :math:`P(Y \le y \mid x) =
F_Z(h(y \mid x))`. Three choices are common:

* ``"normal"``: the standard normal;
* ``"logistic"``: :math:`F_Z(z) = 1 / (1 + e^{-z})`, the proportional-odds family;
* ``"min_extreme_value"``: the minimum extreme value (Gompertz) distribution,
  :math:`F_Z(z) = 1 - \exp(-e^z)`, the proportional-hazards family.

Each is written out with numerically stable formulas rather than taken from
``torch.distributions``, which has no minimum extreme value distribution and no stable
logistic CDF for large arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from course_lib._validation import check_choice

__all__ = ["BASES", "BaseDistribution", "base_distribution"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class BaseDistribution:
    """A standard 1-D base distribution, elementwise on tensors of any shape.

    Attributes:
        name: One of :data:`BASES`.
        log_prob: :math:`z \\mapsto \\log f_Z(z)`.
        cdf: :math:`z \\mapsto F_Z(z)`.
        icdf: :math:`p \\mapsto F_Z^{-1}(p)` for ``p`` in (0, 1).
    """

    name: str
    log_prob: Callable[[Tensor], Tensor]
    cdf: Callable[[Tensor], Tensor]
    icdf: Callable[[Tensor], Tensor]


def _normal_log_prob(z: Tensor) -> Tensor:
    return -0.5 * z**2 - _HALF_LOG_2PI


def _logistic_log_prob(z: Tensor) -> Tensor:
    # log(e^{-z} / (1 + e^{-z})^2) = -z - 2 log(1 + e^{-z}), stable for both signs.
    return -z - 2 * F.softplus(-z)


def _min_ev_log_prob(z: Tensor) -> Tensor:
    return z - torch.exp(z)


def _min_ev_cdf(z: Tensor) -> Tensor:
    return -torch.expm1(-torch.exp(z))


def _min_ev_icdf(p: Tensor) -> Tensor:
    return torch.log(-torch.log1p(-p))


_BASES = {
    "normal": BaseDistribution(
        "normal", _normal_log_prob, torch.special.ndtr, torch.special.ndtri
    ),
    "logistic": BaseDistribution("logistic", _logistic_log_prob, torch.sigmoid, torch.logit),
    "min_extreme_value": BaseDistribution(
        "min_extreme_value", _min_ev_log_prob, _min_ev_cdf, _min_ev_icdf
    ),
}
BASES = tuple(_BASES)


def base_distribution(name: str) -> BaseDistribution:
    """The base distribution called ``name`` (one of :data:`BASES`).

    Example:
        >>> round(float(base_distribution("logistic").cdf(torch.tensor(0.0))), 3)
        0.5

    Raises:
        ValueError: If ``name`` is not one of :data:`BASES`.
    """
    return _BASES[check_choice("base", name, BASES)]
