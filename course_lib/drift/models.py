r"""The three DRIFT models of Kook et al. (2024): location-scale, interconnected, tensor-product.

All three combine a feature network :math:`\phi(x) \ge 0` (:class:`FeatureNetwork`) and a
monotone network (:class:`MonotoneNetwork`), and are :class:`TransformationModel` s. With
:math:`u` the standardized response and :math:`g(u) = (g_1(u), \dots, g_K(u))` the
outputs of a monotone network, the last one :math:`g_K(u) = u`:

* **LS** (:class:`LocationScaleDrift`):
  :math:`h(u \mid x) = \big(w^\top g(u) - \mu(x)\big) / \sigma(x)`, :math:`w > 0`, with
  :math:`\mu` and :math:`\log\sigma` linear heads on :math:`\phi(x)`. The distribution
  of :math:`w^\top g(U)` is the base's, moved by :math:`\mu(x)` and stretched by
  :math:`\sigma(x)`; on the scale of :math:`u`, through the one fixed :math:`g`, the
  shape can change with :math:`x`, but not freely.
* **INTER** (:class:`InterconnectedDrift`): :math:`h(u \mid x) = w^\top g(u; \phi(x)) + b`,
  one monotone network on :math:`[\phi(x), u]` with non-negative weights throughout,
  :math:`w > 0`: the shape may change with :math:`x`.
* **TP** (:class:`TensorProductDrift`): :math:`h(u \mid x) = \sum_{k,j} g_k(u)\,
  \tilde\phi_j(x)\, \theta_{kj} + b(x)`, with :math:`\tilde\phi(x) = (1, \phi(x))`
  and :math:`b` a linear head on :math:`\phi(x)`.

**The tensor-product constraint.** :math:`\partial h / \partial u = \sum_k g_k'(u)\,
c_k(x)` with :math:`c_k(x) = \theta_{k0} + \sum_{j \ge 1} \phi_j(x)\,\theta_{kj}`. Every
:math:`g_k' > 0`, and :math:`g_K' = 1`. All coefficients :math:`\theta_{kj}` are
``softplus`` of free parameters, hence positive, and :math:`\phi_j(x) \ge 0` (ReLU
outputs), so :math:`c_k(x) \ge \theta_{k0} > 0` for every :math:`x` and

.. math:: \frac{\partial h}{\partial u} \ge g_K'(u)\,\theta_{K0} = \theta_{K0} > 0 .

Only the shift :math:`b(x)`, whose basis function (the constant 1) does not depend on
:math:`u`, is free. Leaving any coefficient of a :math:`u`-dependent basis function free
(as the original code did for one of them) allows :math:`c_k(x) < 0` for some :math:`x`,
and :math:`h` may then decrease.

References:
    Kook, Kolb, Schiele, Rügamer (2024). How Inverse Conditional Flows Can Serve as a
    Substitute for Distributional Regression. UAI. https://arxiv.org/abs/2405.05429
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_lib.drift.model import TransformationModel
from course_lib.drift.networks import FeatureNetwork, MonotoneNetwork, inverse_softplus

__all__ = ["InterconnectedDrift", "LocationScaleDrift", "TensorProductDrift"]


def _positive_weights(size: int, identity_weight: float = 1.0, other: float = 0.1) -> nn.Parameter:
    """Free parameters whose softplus starts at ``other`` for the bounded outputs of a
    monotone network and ``identity_weight`` for its last one, ``u``, so that ``h`` starts
    close to the identity."""
    initial = torch.full((size,), other)
    initial[-1] = identity_weight
    return nn.Parameter(inverse_softplus(initial))


class _DriftModel(TransformationModel):
    """Shared construction: the feature network, the monotone network's widths."""

    def __init__(
        self,
        features: int,
        *,
        base: str,
        hidden: int,
        outputs_per_feature: int,
        monotone_hidden: tuple[int, ...],
    ):
        super().__init__(features, base=base)
        self.phi = FeatureNetwork(features, hidden=hidden, outputs_per_feature=outputs_per_feature)
        self.monotone_hidden = tuple(monotone_hidden)

    def _context(self, x: Tensor) -> Tensor:
        return self.phi(x)


class LocationScaleDrift(_DriftModel):
    r"""DRIFT-LS: :math:`h(y \mid x) = (w^\top g(u) - \mu(x)) / \sigma(x)`.

    Args:
        features: Number of features.
        base: Base distribution (see :mod:`course_lib.drift.bases`).
        hidden: Hidden units of each per-feature network of :math:`\phi`.
        outputs_per_feature: Outputs of each per-feature network.
        monotone_hidden: Hidden widths of the monotone network :math:`g`.

    Example:
        >>> model = LocationScaleDrift(3)
        >>> y, x = torch.randn(5), torch.randn(5, 3)
        >>> tuple(model.log_prob(y, x).shape)
        (5,)
    """

    def __init__(
        self,
        features: int,
        *,
        base: str = "normal",
        hidden: int = 16,
        outputs_per_feature: int = 4,
        monotone_hidden: tuple[int, ...] = (16, 16),
    ):
        super().__init__(
            features,
            base=base,
            hidden=hidden,
            outputs_per_feature=outputs_per_feature,
            monotone_hidden=monotone_hidden,
        )
        self.g = MonotoneNetwork(monotone_hidden)
        self.raw_w = _positive_weights(self.g.out_features)
        self.location = nn.Linear(self.phi.out_features, 1)
        self.log_scale = nn.Linear(self.phi.out_features, 1)
        for head in (self.location, self.log_scale):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def _context(self, x: Tensor) -> tuple[Tensor, Tensor]:
        phi = self.phi(x)
        return self.location(phi).squeeze(-1), self.log_scale(phi).squeeze(-1)

    def _transform(self, u: Tensor, context: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        mu, log_sigma = context
        g, dg = self.g(u)
        w = F.softplus(self.raw_w)
        inverse_sigma = torch.exp(-log_sigma)
        return (g @ w - mu) * inverse_sigma, (dg @ w) * inverse_sigma

    def _components(self) -> list:
        return [
            ("feature network phi(x)", self.phi.describe(), list(self.phi.parameters())),
            ("monotone network g(y)", self.g.describe(), list(self.g.parameters())),
            ("weights w > 0 of g(y)", "softplus-parametrized", [self.raw_w]),
            (
                "heads mu(x), log sigma(x)",
                "linear on phi(x)",
                [*self.location.parameters(), *self.log_scale.parameters()],
            ),
        ]


class InterconnectedDrift(_DriftModel):
    r"""DRIFT-INTER: :math:`h(y \mid x) = w^\top g(u; \phi(x)) + b`, one monotone network
    on :math:`[\phi(x), u]`.

    Args: as for :class:`LocationScaleDrift`.
    """

    def __init__(
        self,
        features: int,
        *,
        base: str = "normal",
        hidden: int = 16,
        outputs_per_feature: int = 4,
        monotone_hidden: tuple[int, ...] = (16, 16),
    ):
        super().__init__(
            features,
            base=base,
            hidden=hidden,
            outputs_per_feature=outputs_per_feature,
            monotone_hidden=monotone_hidden,
        )
        self.g = MonotoneNetwork(monotone_hidden, context_features=self.phi.out_features)
        self.raw_w = _positive_weights(self.g.out_features)
        self.bias = nn.Parameter(torch.zeros(()))

    def _transform(self, u: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        g, dg = self.g(u, context)
        w = F.softplus(self.raw_w)
        return g @ w + self.bias, dg @ w

    def _components(self) -> list:
        return [
            ("feature network phi(x)", self.phi.describe(), list(self.phi.parameters())),
            ("monotone network g(y; phi(x))", self.g.describe(), list(self.g.parameters())),
            ("output weights w > 0 and bias", "softplus-parametrized", [self.raw_w, self.bias]),
        ]


class TensorProductDrift(_DriftModel):
    r"""DRIFT-TP: :math:`h(y \mid x) = \sum_{k,j} g_k(u) \tilde\phi_j(x) \theta_{kj} + b(x)`
    with positive :math:`\theta` (see the module's proof of monotonicity).

    Args: as for :class:`LocationScaleDrift`.
    """

    def __init__(
        self,
        features: int,
        *,
        base: str = "normal",
        hidden: int = 16,
        outputs_per_feature: int = 4,
        monotone_hidden: tuple[int, ...] = (16, 16),
    ):
        super().__init__(
            features,
            base=base,
            hidden=hidden,
            outputs_per_feature=outputs_per_feature,
            monotone_hidden=monotone_hidden,
        )
        self.g = MonotoneNetwork(monotone_hidden)
        k, j = self.g.out_features, self.phi.out_features
        self.raw_theta0 = _positive_weights(k)
        self.raw_theta = nn.Parameter(inverse_softplus(torch.full((k, j), 1e-3)))
        self.shift = nn.Linear(j, 1)
        nn.init.zeros_(self.shift.weight)
        nn.init.zeros_(self.shift.bias)

    def coefficients(self, phi: Tensor) -> Tensor:
        r""":math:`c_k(x) = \theta_{k0} + \sum_j \phi_j(x) \theta_{kj}`, shape ``(n, K)``,
        for ``phi`` of shape ``(n, J)``; positive whenever ``phi >= 0``."""
        return F.softplus(self.raw_theta0) + phi @ F.softplus(self.raw_theta).T

    def _context(self, x: Tensor) -> tuple[Tensor, Tensor]:
        phi = self.phi(x)
        return self.coefficients(phi), self.shift(phi).squeeze(-1)

    def _transform(self, u: Tensor, context: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        c, b = context
        g, dg = self.g(u)
        return (g * c).sum(-1) + b, (dg * c).sum(-1)

    def _components(self) -> list:
        return [
            ("feature network phi(x)", self.phi.describe(), list(self.phi.parameters())),
            ("monotone network g(y)", self.g.describe(), list(self.g.parameters())),
            (
                "coefficients theta > 0",
                f"{self.g.out_features} x (1 + {self.phi.out_features}), softplus-parametrized",
                [self.raw_theta0, self.raw_theta],
            ),
            ("shift b(x)", "linear on phi(x)", list(self.shift.parameters())),
        ]
