r"""Density heads: an embedding in, a ``torch.distributions`` object over the labels out.

All three heads return a distribution with ``batch_shape == (batch,)`` and
``event_shape == (features,)``, so one loss, ``-head(context).log_prob(y).mean()``, trains
each of them:

* :class:`DiagonalGaussianHead`: :math:`\mathcal{N}(\mu(c), \operatorname{diag}\sigma(c)^2)`,
  ``2 * features`` outputs;
* :class:`FullGaussianHead`: :math:`\mathcal{N}(\mu(c), L(c) L(c)^\top)` with :math:`L` lower
  triangular with a positive diagonal (a Cholesky factor), ``features + features (features +
  1) / 2`` outputs;
* :class:`FlowHead`: a conditional normalizing flow (autoregressive, affine or spline)
  whose every layer reads the embedding :math:`c` as its context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal, constraints

from course_lib._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_seed,
    format_shape,
    seeded_init,
)
from course_lib.flows import ConditionalFlow, maf, neural_spline_flow
from course_lib.flows._checks import check_points, reference_tensor

__all__ = ["ContextFlow", "DiagonalGaussianHead", "FlowHead", "FullGaussianHead"]


class _Head(nn.Module):
    """What the heads share: sizes, the context check and a config for checkpoints."""

    def __init__(self, context_features: int, features: int):
        super().__init__()
        self.context_features = check_positive_int("context_features", context_features)
        self.features = check_positive_int("features", features)

    def _check_context(self, context: object) -> Tensor:
        like = reference_tensor(self)
        context = check_points("context", context, self.context_features, like=like)
        if context.ndim != 2:
            raise ValueError(
                f"context must have shape (batch, {self.context_features}); got "
                f"{format_shape(context.shape)}."
            )
        return context

    def extra_repr(self) -> str:
        return f"context_features={self.context_features}, features={self.features}"


class DiagonalGaussianHead(_Head):
    r"""A Gaussian with independent labels: :math:`y \sim \mathcal{N}(\mu(c),
    \operatorname{diag} \sigma(c)^2)`, with :math:`\sigma = \operatorname{softplus}(\cdot) +`
    ``min_scale``.

    Args:
        context_features: Size of the embedding :math:`c`.
        features: Number of labels.
        min_scale: Smallest standard deviation, > 0 (keeps the likelihood bounded).
        seed: Seed or CPU generator for the initial weights.

    Example:
        >>> head = DiagonalGaussianHead(8, 3, seed=0)
        >>> d = head(torch.randn(5, 8))
        >>> tuple(d.batch_shape), tuple(d.event_shape), head.outputs
        ((5,), (3,), 6)
    """

    def __init__(
        self,
        context_features: int,
        features: int = 3,
        *,
        min_scale: float = 1e-3,
        seed: int | torch.Generator | None = None,
    ):
        super().__init__(context_features, features)
        self.min_scale = check_positive_float("min_scale", min_scale)
        self.outputs = 2 * self.features
        with seeded_init(check_seed(seed)):
            self.linear = nn.Linear(self.context_features, self.outputs)
        self.config = {"kind": "diagonal", "features": self.features, "min_scale": self.min_scale}

    def forward(self, context: Tensor) -> Independent:
        """The distribution for ``context`` of shape ``(batch, context_features)``."""
        loc, raw = self.linear(self._check_context(context)).split(self.features, dim=-1)
        scale = F.softplus(raw) + self.min_scale
        return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)


def _tril_from_vector(values: Tensor, features: int, min_scale: float) -> Tensor:
    """A lower-triangular matrix with a positive diagonal from ``features (features + 1) / 2``
    numbers per row of ``values``: the diagonal through ``softplus + min_scale``."""
    rows, cols = torch.tril_indices(features, features, device=values.device)
    tril = values.new_zeros(*values.shape[:-1], features, features)
    tril[..., rows, cols] = values
    diagonal = F.softplus(tril.diagonal(dim1=-2, dim2=-1)) + min_scale
    return tril.tril(-1) + torch.diag_embed(diagonal)


class FullGaussianHead(_Head):
    r"""A Gaussian with correlated labels: :math:`y \sim \mathcal{N}(\mu(c), L(c) L(c)^\top)`.

    :math:`L` is lower triangular; its diagonal is :math:`\operatorname{softplus}(\cdot) +`
    ``min_scale`` > 0, so :math:`L` is the Cholesky factor of a positive definite covariance
    whatever the network outputs, and
    :math:`\log|\Sigma|^{1/2} = \sum_i \log L_{ii}` is cheap.

    Args: as for :class:`DiagonalGaussianHead`.

    Example:
        >>> head = FullGaussianHead(8, 3, seed=0)
        >>> d = head(torch.randn(5, 8))
        >>> tuple(d.scale_tril.shape), head.outputs
        ((5, 3, 3), 9)
    """

    def __init__(
        self,
        context_features: int,
        features: int = 3,
        *,
        min_scale: float = 1e-3,
        seed: int | torch.Generator | None = None,
    ):
        super().__init__(context_features, features)
        self.min_scale = check_positive_float("min_scale", min_scale)
        self.outputs = self.features + self.features * (self.features + 1) // 2
        with seeded_init(check_seed(seed)):
            self.linear = nn.Linear(self.context_features, self.outputs)
        self.config = {"kind": "full", "features": self.features, "min_scale": self.min_scale}

    def forward(self, context: Tensor) -> MultivariateNormal:
        """The distribution for ``context`` of shape ``(batch, context_features)``."""
        output = self.linear(self._check_context(context))
        loc, values = output.split([self.features, self.outputs - self.features], dim=-1)
        tril = _tril_from_vector(values, self.features, self.min_scale)
        return MultivariateNormal(loc, scale_tril=tril, validate_args=False)


class ContextFlow(Distribution):
    """A conditional flow at a batch of contexts, as a distribution with
    ``batch_shape == (batch,)``: one flow per context row.

    ``log_prob(y)`` takes ``y`` of shape ``(*sample, batch, features)``; ``sample(shape)``
    returns ``(*shape, batch, features)``, as for the Gaussian heads.

    Args:
        flow: A :class:`~course_lib.flows.ConditionalFlow`.
        context: Shape ``(batch, context_features)``.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: ConditionalFlow, context: Tensor):
        self.conditional = flow
        self.context = context
        self.flow = flow(context)
        super().__init__(context.shape[:-1], torch.Size([flow.flow.features]), validate_args=False)

    def log_prob(self, value: Tensor) -> Tensor:
        return self.flow.log_prob(value)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()) -> Tensor:
        return self.flow.rsample(torch.Size(sample_shape) + self.batch_shape)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()) -> Tensor:
        return self.flow.sample(torch.Size(sample_shape) + self.batch_shape)


class FlowHead(_Head):
    r"""A conditional normalizing flow on the labels: every autoregressive layer's MADE reads
    the embedding as its context.

    ``kind="spline"`` stacks :class:`~course_lib.flows.SplineAutoregressive` layers
    (rational-quadratic, ``bins`` bins on :math:`[-B, B]`, the identity outside);
    ``kind="affine"`` stacks :class:`~course_lib.flows.MAF` layers. Both are in the MAF
    direction: ``log_prob`` (training) costs one network pass per layer, ``sample``
    ``features`` passes per layer. The flow starts as the standard normal, so labels
    should be standardized. The head's parameters grow like ``layers * hidden_features *
    (context_features + features + hidden_features)``: small beside a CNN.

    Args:
        context_features: Size of the embedding.
        features: Number of labels.
        kind: ``"spline"`` or ``"affine"``.
        layers: Number of autoregressive layers.
        hidden_features: Width of each MADE.
        hidden_layers: Hidden layers of each MADE.
        bins: Spline bins (``kind="spline"``).
        bound: :math:`B` of the splines (``kind="spline"``).
        seed: Seed or CPU generator for the initial weights.

    Example:
        >>> head = FlowHead(8, 3, layers=2, hidden_features=16, seed=0)
        >>> d = head(torch.randn(5, 8))
        >>> tuple(d.log_prob(torch.zeros(5, 3)).shape), tuple(d.sample((7,)).shape)
        ((5,), (7, 5, 3))
    """

    def __init__(
        self,
        context_features: int,
        features: int = 3,
        *,
        kind: str = "spline",
        layers: int = 3,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        bins: int = 8,
        bound: float = 5.0,
        seed: int | torch.Generator | None = None,
    ):
        super().__init__(context_features, features)
        kind = check_choice("kind", kind, ("spline", "affine"))
        options = {
            "layers": check_positive_int("layers", layers),
            "hidden_features": check_positive_int("hidden_features", hidden_features),
            "hidden_layers": check_positive_int("hidden_layers", hidden_layers),
        }
        if kind == "spline":
            options |= {
                "bins": check_positive_int("bins", bins),
                "bound": check_positive_float("bound", bound),
            }
            self.flow = neural_spline_flow(
                self.features,
                kind="autoregressive",
                context_features=self.context_features,
                seed=check_seed(seed),
                **options,
            )
        else:
            self.flow = maf(
                self.features, context_features=self.context_features, seed=seed, **options
            )
        self.config = {"kind": "flow", "features": self.features, "flow_kind": kind, **options}

    def forward(self, context: Tensor) -> ContextFlow:
        """The distribution for ``context`` of shape ``(batch, context_features)``."""
        return ContextFlow(self.flow, self._check_context(context))
