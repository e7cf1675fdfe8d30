r"""Closed-form Wasserstein distances between two samples on the real line.

In one dimension optimal transport needs no optimization: the monotone map that sends the
:math:`t`-quantile of one distribution to the :math:`t`-quantile of the other is optimal for
every convex cost, so

.. math::
    W_p^p(\mu, \nu) = \int_0^1 |F^{-1}(t) - G^{-1}(t)|^p\,dt, \qquad
    W_1(\mu, \nu) = \int_{-\infty}^{\infty} |F(x) - G(x)|\,dx,

the second, the area between the two distribution functions, being the first with
:math:`p = 1` and the axes swapped. For samples, :math:`F` and :math:`G` are the empirical
distribution functions, steps of height :math:`1/n` and :math:`1/m`, and both integrals are
finite sums. These are the ground truths against which the Sinkhorn divergence is checked:
geomloss' ``SamplesLoss("sinkhorn", p=2, blur=b)`` and
:func:`course_lib.transport.sinkhorn_divergence` tend to :math:`\tfrac12 W_2^2` as ``b`` goes
to 0.

References:
    Peyré and Cuturi, "Computational Optimal Transport", 2019, section 2.6.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib._validation import check_dtype, check_tensor, format_shape

__all__ = ["wasserstein1_1d", "wasserstein2_1d"]


def _sample_1d(name: str, x: object) -> Tensor:
    """A 1-D sample as a flat tensor: shape ``(n,)`` or ``(n, 1)`` accepted, ``n >= 1``."""
    check_tensor(name, x, floating=True)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(
            f"{name} must be a one-dimensional sample, shape (n,) or (n, 1); got shape "
            f"{format_shape(x.shape)}. For several features use sinkhorn_divergence."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one point; got an empty tensor.")
    return x


def _pair(x: object, y: object) -> tuple[Tensor, Tensor]:
    x, y = _sample_1d("x", x), _sample_1d("y", y)
    check_dtype("y", y, like=x, like_name="x")
    if x.device != y.device:
        raise ValueError(f"x and y must sit on one device; got {x.device} and {y.device}.")
    return x, y


def wasserstein1_1d(x: Tensor, y: Tensor) -> Tensor:
    r"""The 1-Wasserstein distance between two samples: the area between their CDFs.

    .. math:: W_1 = \int |F_n(t) - G_m(t)|\,dt,

    a sum over the gaps between the pooled, sorted points, on each of which both
    empirical CDFs are constant. The sizes may differ. Cost: a sort, :math:`O((n + m)
    \log(n + m))`.

    Args:
        x: A sample, shape ``(n,)`` or ``(n, 1)``.
        y: A sample, shape ``(m,)`` or ``(m, 1)``, same dtype and device.

    Returns:
        The distance, a scalar tensor.

    Example:
        >>> wasserstein1_1d(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0, 4.0]))
        tensor(2.5000)
    """
    x, y = _pair(x, y)
    x_sorted, y_sorted = x.sort().values, y.sort().values
    pooled = torch.cat([x_sorted, y_sorted]).sort().values
    left, gaps = pooled[:-1], pooled.diff()
    # Right-continuous CDFs on each gap [pooled[k], pooled[k + 1]).
    cdf_x = torch.searchsorted(x_sorted, left, right=True).to(x.dtype) / x.shape[0]
    cdf_y = torch.searchsorted(y_sorted, left, right=True).to(x.dtype) / y.shape[0]
    return ((cdf_x - cdf_y).abs() * gaps).sum()


def wasserstein2_1d(x: Tensor, y: Tensor) -> Tensor:
    r"""The 2-Wasserstein distance between two samples, from their quantile functions.

    .. math:: W_2^2 = \int_0^1 \big(F_n^{-1}(t) - G_m^{-1}(t)\big)^2\,dt,

    where the empirical quantile function :math:`F_n^{-1}` is the :math:`k`-th smallest
    point on :math:`((k-1)/n, k/n]`. Both are constant between consecutive levels of
    :math:`\{k/n\} \cup \{l/m\}`, so the integral is a finite sum; with ``n == m`` it is the
    mean squared difference of the sorted samples. geomloss' Sinkhorn divergence with
    ``p=2`` tends to :math:`\tfrac12 W_2^2` as the blur goes to 0.

    Args:
        x: A sample, shape ``(n,)`` or ``(n, 1)``.
        y: A sample, shape ``(m,)`` or ``(m, 1)``, same dtype and device.

    Returns:
        :math:`W_2` (not squared), a scalar tensor.

    Example:
        >>> wasserstein2_1d(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 4.0]))
        tensor(3.)
    """
    x, y = _pair(x, y)
    n, m = x.shape[0], y.shape[0]
    # Levels in float64 and integers, so that k / n and l / m meet exactly where they coincide.
    levels = torch.cat(
        [
            torch.arange(1, n + 1, dtype=torch.float64) / n,
            torch.arange(1, m + 1, dtype=torch.float64) / m,
        ]
    ).unique()
    widths = levels.diff(prepend=levels.new_zeros(1))
    middles = levels - widths / 2
    index_x = (middles * n).floor().long().clamp(max=n - 1).to(x.device)
    index_y = (middles * m).floor().long().clamp(max=m - 1).to(x.device)
    difference = x.sort().values[index_x] - y.sort().values[index_y]
    return (difference.square() * widths.to(device=x.device, dtype=x.dtype)).sum().sqrt()
