r"""The two networks of DRIFT: a feature network :math:`\phi(x)` and a monotone network.

* :class:`FeatureNetwork`: one small ReLU MLP per feature, outputs concatenated, as in
  Kook et al. (2024). Its outputs are non-negative (a final ReLU), which the
  tensor-product model relies on.
* :class:`MonotoneNetwork`: dense layers with non-negative weights and tanh activations,
  hence increasing in every input. Weights are ``softplus`` of free parameters, so the
  constraint holds at every step and gradients flow (clamping weights inside ``forward``
  would give them zero gradient wherever the clamp is active). The network also returns
  the derivative of each output with respect to its last input, :math:`y`, by the chain
  rule (forward mode), so log-likelihoods need no second autograd pass. Its last output is
  :math:`y` itself: the tanh outputs are bounded, and a transformation
  :math:`h` built from bounded functions alone would be bounded too, leaving probability
  mass outside its range (quantiles and samples in the tails would not exist).

References:
    Kook, Kolb, Schiele, Rügamer (2024). How Inverse Conditional Flows Can Serve as a
    Substitute for Distributional Regression. UAI. https://arxiv.org/abs/2405.05429
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_lib._validation import check_nonnegative_int, check_positive_int

__all__ = ["FeatureNetwork", "MonotoneNetwork", "PositiveLinear", "inverse_softplus"]


def inverse_softplus(value: Tensor) -> Tensor:
    """The ``r`` with ``softplus(r) == value`` (for ``value > 0``)."""
    return value + torch.log(-torch.expm1(-value))


class PositiveLinear(nn.Module):
    r"""A dense layer :math:`a = W z + b` with :math:`W = \mathrm{softplus}(V) > 0`.

    Args:
        in_features: Size of the input.
        out_features: Size of the output.
        weight: Initial weights are drawn from ``U(weight[0], weight[1])``; the default
            ``(0.5 / in_features, 1.5 / in_features)`` makes the layer roughly average its
            inputs, so that tanh does not saturate at the start.
        bias: Initial biases are drawn from ``U(-bias, bias)``.

    Attributes:
        raw_weight: :math:`V`, shape ``(out_features, in_features)``.
        bias: :math:`b`, shape ``(out_features,)``, unconstrained.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        weight: tuple[float, float] | None = None,
        bias: float = 1.0,
    ):
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        low, high = weight or (0.5 / in_features, 1.5 / in_features)
        initial = low + (high - low) * torch.rand(out_features, in_features)
        self.raw_weight = nn.Parameter(inverse_softplus(initial))
        self.bias = nn.Parameter((2 * torch.rand(out_features) - 1) * bias)

    @property
    def weight(self) -> Tensor:
        """The positive weights :math:`W`, shape ``(out_features, in_features)``."""
        return F.softplus(self.raw_weight)

    def forward(self, z: Tensor) -> Tensor:
        """``W z + b`` for ``z`` of shape ``(n, in_features)``; shape ``(n, out_features)``."""
        return F.linear(z, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class MonotoneNetwork(nn.Module):
    r"""Outputs :math:`g(y; c)` increasing in :math:`y`, with their derivatives in :math:`y`.

    The input is :math:`[c, y]`, a context :math:`c` (``context_features`` values, none
    for :math:`g(y)` alone) followed by :math:`y`. Each hidden layer is a
    :class:`PositiveLinear` followed by tanh; the outputs are the last hidden layer's
    values followed by :math:`y` itself (unbounded). Non-negative weights and increasing
    activations make every output increasing in :math:`y` (and in :math:`c`).

    Args:
        hidden: Widths of the hidden layers, at least one.
        context_features: Size of :math:`c`; 0 for a network of :math:`y` alone.

    Attributes:
        out_features: ``hidden[-1] + 1``.
    """

    def __init__(self, hidden: tuple[int, ...] = (16, 16), *, context_features: int = 0):
        super().__init__()
        hidden = tuple(check_positive_int("hidden[i]", h) for h in hidden)
        if not hidden:
            raise ValueError("hidden must name at least one layer width; got ().")
        self.context_features = check_nonnegative_int("context_features", context_features)
        widths = (context_features + 1, *hidden)
        # The first layer spreads its tanh knots over the standardized range of y (slopes
        # 0.5 to 2, knots within +-2); the context enters with small weights at the start.
        first = PositiveLinear(widths[0], widths[1], weight=(0.5, 2.0), bias=2.0)
        if context_features:
            with torch.no_grad():
                small = (0.1 + torch.rand(widths[1], context_features)) / context_features
                first.raw_weight[:, :-1] = inverse_softplus(small)
        self.layers = nn.ModuleList(
            [first, *(PositiveLinear(a, b) for a, b in zip(widths[1:-1], widths[2:], strict=True))]
        )
        self.hidden = hidden
        self.out_features = hidden[-1] + 1

    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""Outputs and their derivatives in ``y``.

        Args:
            y: Shape ``(n,)``.
            context: Shape ``(n, context_features)``, or ``None`` when there is none.

        Returns:
            ``(g, dg)``, both of shape ``(n, out_features)``: the outputs, and
            :math:`\partial g / \partial y` (all positive).
        """
        column = y.unsqueeze(-1)
        z = column if context is None else torch.cat([context, column], dim=-1)
        first = self.layers[0]
        z = torch.tanh(first(z))
        # d(first(z))/dy is the last column of the first layer's weights.
        dz = (1 - z**2) * first.weight[:, -1]
        for layer in self.layers[1:]:
            z = torch.tanh(layer(z))
            dz = (1 - z**2) * F.linear(dz, layer.weight)
        ones = torch.ones_like(column)
        return torch.cat([z, column], dim=-1), torch.cat([dz, ones], dim=-1)

    def describe(self) -> str:
        """One line: the architecture."""
        widths = "-".join(str(w) for w in (self.context_features + 1, *self.hidden))
        return f"{widths} tanh, non-negative (softplus) weights, plus y itself"


class FeatureNetwork(nn.Module):
    r"""One ReLU MLP per feature, :math:`\phi(x) = [\phi_1(x_1), \dots, \phi_p(x_p)]`.

    Each :math:`\phi_j: \mathbb{R} \to \mathbb{R}^{m}` has one hidden layer of ``hidden``
    ReLU units and ``outputs_per_feature`` ReLU outputs, so :math:`\phi(x) \ge 0`. The
    ``features`` small networks are evaluated at once as batched matrix products.

    Args:
        features: Number of input features :math:`p`.
        hidden: Hidden units of each small network.
        outputs_per_feature: Outputs :math:`m` of each small network.

    Attributes:
        out_features: ``features * outputs_per_feature``.
    """

    def __init__(self, features: int, *, hidden: int = 16, outputs_per_feature: int = 4):
        super().__init__()
        self.features = check_positive_int("features", features)
        self.hidden = check_positive_int("hidden", hidden)
        self.outputs_per_feature = check_positive_int("outputs_per_feature", outputs_per_feature)
        self.out_features = features * outputs_per_feature
        bound = 1 / math.sqrt(hidden)
        self.weight1 = nn.Parameter(torch.randn(features, hidden))
        self.bias1 = nn.Parameter(torch.randn(features, hidden) * 0.5)
        uniform = 2 * torch.rand(features, hidden, outputs_per_feature) - 1
        self.weight2 = nn.Parameter(uniform * bound)
        # A positive bias keeps the output ReLUs alive at the start.
        self.bias2 = nn.Parameter(torch.full((features, outputs_per_feature), 0.5))

    def forward(self, x: Tensor) -> Tensor:
        """``phi(x)`` for ``x`` of shape ``(n, features)``; shape ``(n, out_features)``."""
        hidden = torch.relu(x.unsqueeze(-1) * self.weight1 + self.bias1)
        out = torch.relu(torch.einsum("nph,pho->npo", hidden, self.weight2) + self.bias2)
        return out.flatten(start_dim=-2)

    def describe(self) -> str:
        """One line: the architecture."""
        return (
            f"{self.features} per-feature ReLU MLPs 1-{self.hidden}-{self.outputs_per_feature}, "
            f"concatenated: {self.out_features} non-negative outputs"
        )
