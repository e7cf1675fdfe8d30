r"""Two baselines with the interface of :class:`TransformationModel`.

* :class:`GaussianRegression`: a Gaussian location-scale network,
  :math:`h(u \mid x) = (u - \mu(x)) / \sigma(x)`, so that with the normal base
  :math:`Y \mid x \sim \mathcal{N}(\mu, \sigma^2)` on the standardized scale; :math:`\mu`
  and :math:`\log \sigma` are linear heads on the feature network :math:`\phi(x)`.
* :class:`BernsteinRegression`: the classical transformation model
  :math:`h(u \mid x) = a(u)^\top \vartheta - x^\top \beta` with
  :math:`a(u)` the Bernstein polynomial basis of order :math:`M` (default 10) on an
  interval :math:`[l, r]` of the standardized response,

  .. math:: a_k(u) = \binom{M}{k} s^k (1 - s)^{M - k}, \quad s = \frac{u - l}{r - l},

  and increasing coefficients :math:`\vartheta_0` free, :math:`\vartheta_k =
  \vartheta_{k-1} + \mathrm{softplus}(\gamma_k)`, so that :math:`h` increases. Outside
  :math:`[l, r]` it continues linearly with the slope at the boundary (continuous
  derivative), so :math:`h` is unbounded and every quantile exists. The interval is set by
  :meth:`BernsteinRegression.fit_scaling` to the training range of :math:`u`, widened by
  ``margin`` of its width on each side.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_lib._validation import check_positive_float, check_positive_int
from course_lib.drift.model import TransformationModel
from course_lib.drift.networks import FeatureNetwork, inverse_softplus

__all__ = ["BernsteinRegression", "GaussianRegression", "bernstein_basis"]


class GaussianRegression(TransformationModel):
    r"""Gaussian location-scale network: :math:`h(y \mid x) = (u - \mu(x)) / \sigma(x)`.

    Args:
        features: Number of features.
        base: Base distribution; ``"normal"`` makes it Gaussian.
        hidden: Hidden units of each per-feature network of :math:`\phi`.
        outputs_per_feature: Outputs of each per-feature network.
    """

    def __init__(
        self,
        features: int,
        *,
        base: str = "normal",
        hidden: int = 16,
        outputs_per_feature: int = 4,
    ):
        super().__init__(features, base=base)
        self.phi = FeatureNetwork(features, hidden=hidden, outputs_per_feature=outputs_per_feature)
        self.location = nn.Linear(self.phi.out_features, 1)
        self.log_scale = nn.Linear(self.phi.out_features, 1)
        for head in (self.location, self.log_scale):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def mean_and_std(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`\mu(x)` and :math:`\sigma(x)` on the raw scale of :math:`y`, shape ``(n,)``
        each (the mean and standard deviation of :math:`Y \mid x` for the normal base)."""
        x = self._check_x(x)
        mu, log_sigma = self._context(self._standardize(None, x)[1])
        return self.y_loc + self.y_scale * mu, self.y_scale * torch.exp(log_sigma)

    def _context(self, x: Tensor) -> tuple[Tensor, Tensor]:
        phi = self.phi(x)
        return self.location(phi).squeeze(-1), self.log_scale(phi).squeeze(-1)

    def _transform(self, u: Tensor, context: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        mu, log_sigma = context
        inverse_sigma = torch.exp(-log_sigma)
        return (u - mu) * inverse_sigma, inverse_sigma

    def _components(self) -> list:
        return [
            ("feature network phi(x)", self.phi.describe(), list(self.phi.parameters())),
            (
                "heads mu(x), log sigma(x)",
                "linear on phi(x)",
                [*self.location.parameters(), *self.log_scale.parameters()],
            ),
        ]


def bernstein_basis(s: Tensor, order: int) -> Tensor:
    r"""The Bernstein basis :math:`\binom{M}{k} s^k (1-s)^{M-k}`, :math:`k = 0..M`.

    Args:
        s: Points in [0, 1], shape ``(n,)``.
        order: :math:`M`.

    Returns:
        Shape ``(n, order + 1)``.
    """
    k = torch.arange(order + 1, dtype=s.dtype, device=s.device)
    log_binomial = (
        torch.lgamma(torch.tensor(order + 1.0, dtype=s.dtype, device=s.device))
        - torch.lgamma(k + 1)
        - torch.lgamma(order - k + 1)
    )
    s = s.unsqueeze(-1)
    # s**0 = 1 also at s = 0 (torch.pow gives 0**0 = 1).
    return torch.exp(log_binomial) * s**k * (1 - s) ** (order - k)


class BernsteinRegression(TransformationModel):
    r"""Transformation model :math:`h(y \mid x) = a(u)^\top \vartheta - x^\top \beta`
    with a Bernstein basis :math:`a` of order ``order`` and increasing :math:`\vartheta`.

    Args:
        features: Number of features.
        base: Base distribution.
        order: Order :math:`M` of the Bernstein polynomial (``order + 1`` coefficients).
        margin: How far the basis' interval extends beyond the training range of the
            standardized response, as a fraction of that range, on each side.
    """

    def __init__(
        self, features: int, *, base: str = "normal", order: int = 10, margin: float = 0.1
    ):
        super().__init__(features, base=base)
        self.order = check_positive_int("order", order)
        self.margin = check_positive_float("margin", margin)
        self.register_buffer("low", torch.tensor(-4.0))
        self.register_buffer("high", torch.tensor(4.0))
        # Start at h(u) = u on [low, high] (coefficients evenly spaced, slope 1).
        self.theta0 = nn.Parameter(torch.tensor(-4.0))
        self.raw_steps = nn.Parameter(inverse_softplus(torch.full((order,), 8.0 / order)))
        self.beta = nn.Parameter(torch.zeros(features))

    def fit_scaling(self, y: Tensor, x: Tensor) -> BernsteinRegression:
        """As :meth:`TransformationModel.fit_scaling`; also sets the basis' interval, and
        keeps :math:`h` the identity on it."""
        super().fit_scaling(y, x)
        with torch.no_grad():
            u = (y - self.y_loc) / self.y_scale
            width = float(u.max() - u.min())
            self.low.copy_(u.min() - self.margin * width)
            self.high.copy_(u.max() + self.margin * width)
            span = float(self.high - self.low)
            self.theta0.fill_(float(self.low))
            steps = torch.full_like(self.raw_steps, span / self.order)
            self.raw_steps.copy_(inverse_softplus(steps))
        return self

    def coefficients(self) -> Tensor:
        r"""The increasing coefficients :math:`\vartheta_0 < \dots < \vartheta_M`."""
        steps = F.softplus(self.raw_steps)
        return torch.cat([self.theta0.reshape(1), self.theta0 + torch.cumsum(steps, 0)])

    def _context(self, x: Tensor) -> Tensor:
        return x @ self.beta

    def _transform(self, u: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        theta = self.coefficients()
        width = self.high - self.low
        s = ((u - self.low) / width).clamp(0, 1)
        h = bernstein_basis(s, self.order) @ theta
        # h'(u) = M / width * sum_k (theta_{k+1} - theta_k) b_{k, M-1}(s).
        dh = bernstein_basis(s, self.order - 1) @ (theta[1:] - theta[:-1]) * (self.order / width)
        # Linear continuation outside [low, high]: at s = 0 or 1, h and dh are the boundary's.
        outside = u - u.clamp(self.low, self.high)
        return h + dh * outside - context, dh

    def _components(self) -> list:
        return [
            (
                "Bernstein polynomial a(y)",
                f"order {self.order}, increasing coefficients (cumulative softplus), "
                "linear beyond the training range",
                [self.theta0, self.raw_steps],
            ),
            ("shift x^T beta", "linear", [self.beta]),
        ]
