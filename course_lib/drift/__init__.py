r"""Distributional regression by transformation models: DRIFT and two baselines.

A model describes the whole conditional distribution of a scalar :math:`Y` given
features :math:`x` by an increasing transformation :math:`h(y \mid x)` with
:math:`h(Y \mid x) \sim F_Z` (Kook et al., 2024):

- :mod:`~course_lib.drift.bases`: the base distributions :math:`F_Z`;
- :mod:`~course_lib.drift.networks`: the feature network :math:`\phi(x)` and the
  monotone network :math:`g(y)`;
- :mod:`~course_lib.drift.model`: :class:`TransformationModel`, the interface shared by
  every model (``log_prob``, ``nll``, ``transform``, ``cdf``, ``quantile``, ``sample``,
  ``summary``);
- :mod:`~course_lib.drift.models`: DRIFT's location-scale, interconnected and
  tensor-product models;
- :mod:`~course_lib.drift.baselines`: a Gaussian location-scale network and a Bernstein
  transformation model;
- :mod:`~course_lib.drift.fitting`: maximum likelihood with early stopping;
- :mod:`~course_lib.drift.crossval`: k-fold cross-validated log-scores.

Example:
    >>> model = LocationScaleDrift(2)
    >>> y, x = torch.randn(100), torch.randn(100, 2)
    >>> history = fit_regression(model, y, x, epochs=2)
    >>> with torch.no_grad():
    ...     p = model.cdf(model.quantile(0.3, x[:1]), x[:1])
    >>> abs(float(p) - 0.3) < 1e-4
    True
"""

import torch  # noqa: F401  (used by the doctest above)

from course_lib.drift.bases import BASES, BaseDistribution, base_distribution
from course_lib.drift.baselines import BernsteinRegression, GaussianRegression, bernstein_basis
from course_lib.drift.crossval import CrossValidation, cross_validate, diabetes, fold_indices
from course_lib.drift.fitting import fit_regression
from course_lib.drift.model import TransformationModel
from course_lib.drift.models import InterconnectedDrift, LocationScaleDrift, TensorProductDrift
from course_lib.drift.networks import FeatureNetwork, MonotoneNetwork, PositiveLinear

__all__ = [
    "BASES",
    "BaseDistribution",
    "BernsteinRegression",
    "CrossValidation",
    "FeatureNetwork",
    "GaussianRegression",
    "InterconnectedDrift",
    "LocationScaleDrift",
    "MonotoneNetwork",
    "PositiveLinear",
    "TensorProductDrift",
    "TransformationModel",
    "base_distribution",
    "bernstein_basis",
    "cross_validate",
    "diabetes",
    "fit_regression",
    "fold_indices",
]
