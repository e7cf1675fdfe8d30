r"""Reference functions and seeded cases for the assignment on conditional Gaussian heads.

The references wrap :class:`~course_lib.conditional.FullGaussianHead` and
:mod:`course_lib.conditional.metrics`, so the assignment is graded against the code the
chapters use. A head's raw output of size :math:`d + d(d+1)/2` is read as the mean, then the
lower triangle of the Cholesky factor row by row (the order of ``torch.tril_indices``),
whose diagonal goes through :math:`\operatorname{softplus}(\cdot) + 10^{-3}`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal, Normal

from course_lib._validation import check_seed, check_tensor
from course_lib.conditional.heads import FullGaussianHead
from course_lib.conditional.metrics import coverage, pulls

__all__ = [
    "MIN_SCALE",
    "coverage_cases",
    "full_gaussian_cases",
    "full_gaussian_reference",
    "gaussian_pit_reference",
    "params_cases",
    "pit_cases",
    "reference_coverage",
    "reference_full_gaussian_log_prob",
    "reference_full_gaussian_params",
    "reference_pulls",
    "torch_full_gaussian_log_prob",
]

MIN_SCALE = 1e-3  # FullGaussianHead's default smallest diagonal entry

# (batch, features, dtype) of the cases; features = 3 is the assignment's (Teff, logg, [Fe/H])
_SHAPES = (
    (1, 3, torch.float64),
    (7, 3, torch.float32),
    (64, 3, torch.float64),
    (5, 2, torch.float64),
    (9, 4, torch.float32),
)


def _features_from_outputs(outputs: int) -> int:
    """The ``d`` with ``d + d (d + 1) / 2 == outputs``."""
    features = 1
    while features + features * (features + 1) // 2 < outputs:
        features += 1
    if features + features * (features + 1) // 2 != outputs:
        raise ValueError(
            f"raw must have d + d(d+1)/2 columns for some d (2, 5, 9, 14, ...); got {outputs}."
        )
    return features


def full_gaussian_reference(raw: Tensor) -> MultivariateNormal:
    """The :class:`~course_lib.conditional.FullGaussianHead` distribution for raw head outputs
    of shape ``(batch, d + d(d+1)/2)``: the head with an identity linear layer."""
    raw = check_tensor("raw", raw, ndim=2, floating=True)
    outputs = raw.shape[-1]
    features = _features_from_outputs(outputs)
    head = FullGaussianHead(outputs, features, min_scale=MIN_SCALE, seed=0).to(raw.dtype)
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(outputs, dtype=raw.dtype))
        head.linear.bias.zero_()
    return head(raw)


def reference_full_gaussian_params(raw: Tensor) -> tuple[Tensor, Tensor]:
    """``(mean, scale_tril)`` of shapes ``(batch, d)`` and ``(batch, d, d)``."""
    with torch.no_grad():
        distribution = full_gaussian_reference(raw)
    return distribution.loc, distribution.scale_tril


def reference_full_gaussian_log_prob(raw: Tensor, y: Tensor) -> Tensor:
    """Log-likelihood of ``y`` (batch, d) under the head's Gaussian, shape ``(batch,)``."""
    with torch.no_grad():
        return full_gaussian_reference(raw).log_prob(y)


def torch_full_gaussian_log_prob(raw: Tensor, y: Tensor) -> Tensor:
    """The same log-likelihood built without the head: the factor assembled here and
    :class:`torch.distributions.MultivariateNormal`, an independent check."""
    features = y.shape[-1]
    mean, values = raw[:, :features], raw[:, features:]
    rows, cols = torch.tril_indices(features, features)
    tril = raw.new_zeros(raw.shape[0], features, features)
    tril[:, rows, cols] = values
    diagonal = torch.nn.functional.softplus(torch.diagonal(tril, dim1=-2, dim2=-1)) + MIN_SCALE
    tril = torch.tril(tril, -1) + torch.diag_embed(diagonal)
    return MultivariateNormal(mean, scale_tril=tril).log_prob(y)


def full_gaussian_cases(seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Inputs ``(raw, y)``: raw outputs with entries of scale 1.5 (so diagonals from about
    0.01 to 5) and labels drawn from a Gaussian 1.5 times as wide as the head's; in float64
    from ``seed``, then cast.

    Example:
        >>> [(tuple(r.shape), tuple(y.shape)) for r, y in full_gaussian_cases(0)][:2]
        [((1, 9), (1, 3)), ((7, 9), (7, 3))]
    """
    generator = check_seed(seed)
    cases = []
    for batch, features, dtype in _SHAPES:
        outputs = features + features * (features + 1) // 2
        raw = 1.5 * torch.randn(batch, outputs, generator=generator, dtype=torch.float64)
        mean, tril = reference_full_gaussian_params(raw)
        noise = 1.5 * torch.randn(batch, features, 1, generator=generator, dtype=torch.float64)
        y = mean + (tril @ noise).squeeze(-1)
        cases.append((raw.to(dtype), y.to(dtype)))
    return cases


def params_cases(seed: int = 0) -> list[tuple[Tensor]]:
    """Inputs ``(raw,)`` of :func:`full_gaussian_cases`."""
    return [(raw,) for raw, _ in full_gaussian_cases(seed)]


def reference_pulls(true: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """:func:`course_lib.conditional.pulls`."""
    return pulls(true, mean, std)


def gaussian_pit_reference(true: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """The PIT of Gaussian marginals, :math:`\\Phi((y - \\mu) / \\sigma)`, ``(stars, labels)``."""
    return Normal(mean, std).cdf(true)


def reference_coverage(pit: Tensor, levels=(0.68, 0.95)) -> Tensor:
    """:func:`course_lib.conditional.coverage`."""
    return coverage(pit, levels)


# (stars, labels, dtype) of the metric cases
_TABLES = ((1, 3, torch.float64), (50, 3, torch.float32), (400, 2, torch.float64))


def pit_cases(seed: int = 0) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Inputs ``(true, mean, std)`` for pulls and PIT: the truth drawn from a Gaussian twice
    as wide as the predicted one, so that pulls have a standard deviation near 2.

    Example:
        >>> [tuple(t.shape) for t in pit_cases(0)[1]]
        [(50, 3), (50, 3), (50, 3)]
    """
    generator = check_seed(seed)
    cases = []
    for stars, labels, dtype in _TABLES:
        shape = (stars, labels)
        mean = torch.randn(shape, generator=generator, dtype=torch.float64)
        std = torch.exp(0.5 * torch.randn(shape, generator=generator, dtype=torch.float64))
        true = mean + 2 * std * torch.randn(shape, generator=generator, dtype=torch.float64)
        cases.append(tuple(t.to(dtype) for t in (true, mean, std)))
    return cases


def coverage_cases(seed: int = 0) -> list[tuple]:
    """Inputs ``(pit, levels)``: the PIT of :func:`pit_cases`, with the default levels, one
    level and three."""
    levels = ((0.68, 0.95), (0.5,), (0.1, 0.68, 0.99))
    return [
        (gaussian_pit_reference(*case), level)
        for case, level in zip(pit_cases(seed), levels, strict=True)
    ]
