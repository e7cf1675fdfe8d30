r"""Reference cases for the assignment on DRIFT's location-scale model.

The location-scale transformation is

.. math:: h(y \mid x) = \frac{w^\top g(y) - \mu(x)}{\sigma(x)}, \qquad
          -\log p(y \mid x) = -\log\phi\big(h(y \mid x)\big) - \log h'(y \mid x),

with :math:`g` a monotone network, :math:`w > 0`, and
:math:`h' = w^\top g'(y) / \sigma(x)`. A student writes it on the pieces
``(g, dg, w, mu, log_sigma)`` of a :class:`~course_lib.drift.LocationScaleDrift`; the
references here evaluate the library model itself on the same pieces (its ``_transform``
with the monotone network replaced by the given values), so they share no code with an
answer, and :func:`ls_pieces` takes the pieces from a model whose ``transform_and_derivative``
and ``log_prob`` give the expected values directly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib._validation import check_positive_int, check_seed, check_tensor
from course_lib.drift import LocationScaleDrift
from course_lib.drift.networks import inverse_softplus

__all__ = [
    "heteroscedastic",
    "heteroscedastic_log_prob",
    "ls_cases",
    "ls_model",
    "ls_nll_reference",
    "ls_pieces",
    "ls_transform_reference",
]

# (rows, features, monotone widths, dtype) of the cases: one row, several widths of g
# (K = last width + 1), both floating dtypes.
_LS_SHAPES = (
    (1, 1, (3,), torch.float64),
    (7, 2, (4, 4), torch.float32),
    (25, 3, (8,), torch.float64),
    (40, 1, (6, 5), torch.float32),
)


def ls_model(
    features: int = 1,
    *,
    monotone_hidden: tuple[int, ...] = (8,),
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> LocationScaleDrift:
    r"""A :class:`~course_lib.drift.LocationScaleDrift` with seeded random weights.

    Unlike a fresh model, whose heads start at :math:`\mu = 0, \sigma = 1`, the heads get
    random weights, so that :math:`\mu(x)` and :math:`\sigma(x)` vary with :math:`x`.
    The standardization stays the identity.

    Example:
        >>> model = ls_model(2, seed=1)
        >>> model.log_prob(torch.zeros(3, dtype=torch.float64),
        ...                torch.ones(3, 2, dtype=torch.float64)).shape
        torch.Size([3])
    """
    features = check_positive_int("features", features)
    generator = check_seed(seed)
    fork = torch.random.fork_rng(devices=[])
    with fork:
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        model = LocationScaleDrift(features, hidden=8, monotone_hidden=monotone_hidden)
    with torch.no_grad():
        for head, scale in ((model.location, 0.5), (model.log_scale, 0.3)):
            head.weight.copy_(scale * torch.randn(head.weight.shape, generator=generator))
            head.bias.copy_(scale * torch.randn(head.bias.shape, generator=generator))
        model.raw_w.copy_(torch.randn(model.raw_w.shape, generator=generator))
    return model.to(dtype)


def _check_identity_scaling(model: LocationScaleDrift) -> None:
    if float(model.y_loc) != 0.0 or float(model.y_scale) != 1.0:
        raise ValueError(
            "model must have the identity standardization of y (y_loc 0, y_scale 1); got "
            f"y_loc {float(model.y_loc):g}, y_scale {float(model.y_scale):g}."
        )


@torch.no_grad()
def ls_pieces(model: LocationScaleDrift, y: Tensor, x: Tensor) -> tuple[Tensor, ...]:
    r"""``(g, dg, w, mu, log_sigma)`` of ``model`` at ``(y, x)``: :math:`g(y)` and
    :math:`g'(y)` of shape ``(n, K)``, :math:`w` of shape ``(K,)``, :math:`\mu(x)` and
    :math:`\log\sigma(x)` of shape ``(n,)``. ``y`` must be on the standardized scale,
    hence ``model``'s standardization of ``y`` must be the identity."""
    if not isinstance(model, LocationScaleDrift):
        raise TypeError(f"model must be a LocationScaleDrift; got {type(model).__name__}.")
    _check_identity_scaling(model)
    y, x = model._check(y, x)
    _, xs = model._standardize(None, x)
    mu, log_sigma = model._context(xs)
    g, dg = model.g(y)
    return g, dg, nn.functional.softplus(model.raw_w), mu, log_sigma


def ls_cases(seed: int = 0) -> list[tuple]:
    """Inputs ``(g, dg, w, mu, log_sigma)`` of seeded location-scale models at random
    ``(y, x)``, over several row counts, widths of ``g`` and both floating dtypes.

    Example:
        >>> [tuple(case[0].shape) for case in ls_cases(seed=0)]
        [(1, 4), (7, 5), (25, 9), (40, 6)]
    """
    generator = check_seed(seed)
    cases = []
    for rows, features, widths, dtype in _LS_SHAPES:
        model_seed = int(torch.randint(2**31, (1,), generator=generator))
        model = ls_model(features, monotone_hidden=widths, seed=model_seed, dtype=dtype)
        y = 1.5 * torch.randn(rows, generator=generator, dtype=torch.float64)
        x = torch.randn(rows, features, generator=generator, dtype=torch.float64)
        cases.append(ls_pieces(model, y.to(dtype), x.to(dtype)))
    return cases


class _Given(nn.Module):
    """Stands in for the monotone network: returns the given ``(g, g')`` whatever ``y``."""

    def __init__(self, g: Tensor, dg: Tensor):
        super().__init__()
        self.values = (g, dg)

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.values


def _library_transform(g, dg, w, mu, log_sigma) -> tuple[LocationScaleDrift, Tensor, Tensor]:
    for name, value, ndim in (
        ("g", g, 2),
        ("dg", dg, 2),
        ("w", w, 1),
        ("mu", mu, 1),
        ("log_sigma", log_sigma, 1),
    ):
        check_tensor(name, value, ndim=ndim, floating=True)
    model = LocationScaleDrift(1, hidden=1, monotone_hidden=(g.shape[1] - 1,)).to(g.dtype)
    model.g = _Given(g, dg)
    with torch.no_grad():
        model.raw_w.copy_(inverse_softplus(w.detach()))
    h, dh = model._transform(torch.zeros_like(mu), (mu, log_sigma))
    return model, h, dh


@torch.no_grad()
def ls_transform_reference(g, dg, w, mu, log_sigma) -> tuple[Tensor, Tensor]:
    r""":math:`(h, \log h')`, both of shape ``(n,)``, evaluated by
    :class:`~course_lib.drift.LocationScaleDrift` on the given pieces."""
    _, h, dh = _library_transform(g, dg, w, mu, log_sigma)
    return h, torch.log(dh)


@torch.no_grad()
def ls_nll_reference(g, dg, w, mu, log_sigma) -> Tensor:
    r"""The mean of :math:`-\log\phi(h) - \log h'`, a scalar, evaluated by
    :class:`~course_lib.drift.LocationScaleDrift`'s base distribution on the given pieces."""
    model, h, dh = _library_transform(g, dg, w, mu, log_sigma)
    return -(model.base.log_prob(h) + torch.log(dh)).mean()


def _scale(x: Tensor) -> Tensor:
    return 0.2 + 0.3 * x.abs()


def heteroscedastic(n: int, seed: int = 0, *, dtype=torch.float32) -> tuple[Tensor, Tensor]:
    r"""``(y, x)``: :math:`x \sim U(-3, 3)`, :math:`y = \sin x + (0.2 + 0.3|x|)\,
    \varepsilon`, :math:`\varepsilon \sim N(0, 1)`; shapes ``(n,)`` and ``(n, 1)``.
    Drawn in float64 from ``seed``'s CPU generator, then cast.

    Example:
        >>> y, x = heteroscedastic(4, seed=0)
        >>> tuple(y.shape), tuple(x.shape)
        ((4,), (4, 1))
    """
    n = check_positive_int("n", n)
    generator = check_seed(seed)
    x = 6 * torch.rand(n, generator=generator, dtype=torch.float64) - 3
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    y = torch.sin(x) + _scale(x) * eps
    return y.to(dtype), x.unsqueeze(1).to(dtype)


def heteroscedastic_log_prob(y: Tensor, x: Tensor) -> Tensor:
    r"""The true :math:`\log p(y \mid x)` of :func:`heteroscedastic`, shape ``(n,)``."""
    check_tensor("y", y, ndim=1, floating=True)
    check_tensor("x", x, shape=(y.shape[0], 1), floating=True)
    scale = _scale(x[:, 0])
    z = (y - torch.sin(x[:, 0])) / scale
    return -0.5 * z**2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)
