"""A one-dimensional bimodal sample: the two-component Gaussian mixture of chapter 1."""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib._validation import check_float_dtype, check_positive_int, check_seed

__all__ = ["bimodal_1d"]


def bimodal_1d(
    n: int = 1000,
    *,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Draws a one-dimensional sample from a two-component Gaussian mixture.

    .. math:: p(x) = \tfrac12\,\mathcal{N}(x; -1, 0.5^2) + \tfrac12\,\mathcal{N}(x; 1, 0.75^2),

    the bimodal density of the chapter on maximum likelihood (the two halves
    of the course's original example, drawn independently here). Each point
    picks its component with probability 1/2. Drawn in float64 on a CPU
    generator and cast to ``dtype``.

    Args:
        n: Sample size.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of the result.

    Returns:
        The sample, shape ``(n,)``.

    Example:
        >>> sample = bimodal_1d(n=2000, seed=0)
        >>> tuple(sample.shape), sample.dtype
        ((2000,), torch.float32)
        >>> round(float((sample > 0).float().mean()), 1)
        0.5
    """
    n = check_positive_int("n", n)
    check_float_dtype(dtype)
    generator = check_seed(seed)
    component = torch.rand(n, generator=generator, dtype=torch.float64) < 0.5
    z = torch.randn(n, generator=generator, dtype=torch.float64)
    sample = torch.where(component, 1.0 + 0.75 * z, -1.0 + 0.5 * z)
    return sample.to(dtype)
