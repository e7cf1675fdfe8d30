r"""Autoregressive flows: MADE networks, MAF and IAF (Germain et al., 2015; Papamakarios et al.,
2017; Kingma et al., 2016).

An autoregressive layer transforms feature :math:`i` by an element-wise map (the
*transformer*) whose parameters depend only on features :math:`1, \dots, i-1` (through the
*conditioner*, a MADE network). Its Jacobian is triangular, so the log-det is a sum of
log-derivatives. One direction costs one network pass for all features (*parallel*); the
other must go feature by feature, one pass each (*sequential*):

=====  ==========================================  ==========================================
layer  forward (sampling, :math:`z \to x`)          inverse (density, :math:`x \to z`)
=====  ==========================================  ==========================================
MAF    sequential, ``features`` network passes     parallel, one network pass
IAF    parallel, one network pass                  sequential, ``features`` network passes
=====  ==========================================  ==========================================

A MAF trains fast by maximum likelihood and samples slowly; an IAF the reverse. Signs follow
the convention of :mod:`course_lib.flows.base`. A layer built with ``context_features > 0`` is
conditional: its MADE also reads a context vector, and ``layer.condition(context)`` gives
the plain transform for that context (see :class:`ConditionalFlow`).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validation import (
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_seed,
    format_shape,
    seeded_init,
)
from course_lib.flows._checks import check_points, reference_tensor
from course_lib.flows.base import Flow, Transform, standard_normal
from course_lib.flows.coupling import _affine_transformer
from course_lib.flows.linear import ReversePermutation

__all__ = ["IAF", "MADE", "MAF", "ConditionalFlow", "iaf", "maf", "made_masks"]


def _degrees(features: int, hidden_sizes: list[int], context_features: int) -> list[Tensor]:
    """Degrees of the input units (context first, degree 0), then of each hidden layer."""
    inputs = torch.cat(
        [torch.zeros(context_features, dtype=torch.long), torch.arange(1, features + 1)]
    )
    # A hidden unit of degree k sees the features 1..k. Degree 0 units see only the context;
    # they are useful when there is one, or when features = 1 (nothing else is allowed).
    lowest = 0 if context_features > 0 else min(1, features - 1)
    span = features - lowest
    return [inputs] + [lowest + torch.arange(size) % span for size in hidden_sizes]


def made_masks(
    features: int,
    hidden_sizes: Iterable[int],
    *,
    outputs_per_feature: int = 1,
    context_features: int = 0,
) -> list[Tensor]:
    r"""The weight masks of a MADE network, first layer first.

    Feature :math:`i` (1-based) has degree :math:`i`, a context input degree 0, a hidden
    unit a degree :math:`k` cycling through :math:`1, \dots, features - 1` (from 0 when
    there is a context). A hidden unit of degree :math:`k` may see the inputs of degree at
    most :math:`k`; the outputs of feature :math:`i` see the hidden units of degree below
    :math:`i`. Hence output :math:`i` depends on features :math:`1, \dots, i-1` and the
    context only: the network's Jacobian in the features is strictly lower-triangular.

    The network reads ``cat([context, x], -1)``; its outputs are parameter-major, output
    ``p * features + i`` (0-based) being parameter ``p`` of feature ``i``.

    Args:
        features: Number of features :math:`D`.
        hidden_sizes: Width of each hidden layer (may be empty).
        outputs_per_feature: Number of outputs per feature.
        context_features: Number of context inputs, connected to every first-layer unit.

    Returns:
        Boolean masks of shape ``(out, in)``, one per linear layer.

    Example:
        >>> [m.int().tolist() for m in made_masks(2, [], outputs_per_feature=1)]
        [[[0, 0], [1, 0]]]
    """
    features = check_positive_int("features", features)
    outputs_per_feature = check_positive_int("outputs_per_feature", outputs_per_feature)
    context_features = check_nonnegative_int("context_features", context_features)
    sizes = [check_positive_int(f"hidden_sizes[{i}]", size) for i, size in enumerate(hidden_sizes)]
    degrees = _degrees(features, sizes, context_features)
    masks = [later[:, None] >= earlier[None, :] for earlier, later in itertools.pairwise(degrees)]
    outputs = torch.arange(1, features + 1).repeat(outputs_per_feature)
    masks.append(outputs[:, None] > degrees[-1][None, :])
    return masks


class _MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask, shape ``(out, in)``."""

    def __init__(self, mask: Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, inputs: Tensor) -> Tensor:
        return F.linear(inputs, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    r"""A masked autoencoder for distribution estimation: a ReLU MLP whose masked weights make
    output :math:`i` depend on inputs :math:`1, \dots, i-1` (and the context) only.

    The masks are :func:`made_masks`. The last layer starts at zero, so the network first
    outputs zeros (its autoregressive layers start at the identity).

    Args:
        features: Number of features :math:`D`.
        outputs_per_feature: Number :math:`P` of outputs per feature.
        hidden_features: Width of the hidden layers.
        hidden_layers: Number of hidden layers.
        context_features: Number of context inputs (0 for none).

    Example:
        >>> net = MADE(3, 2, hidden_features=8)
        >>> tuple(net(torch.randn(5, 3)).shape)
        (5, 6)

    References:
        Germain, M., Gregor, K., Murray, I. & Larochelle, H. (2015). MADE: Masked
        Autoencoder for Distribution Estimation. ICML. https://arxiv.org/abs/1502.03509
    """

    def __init__(
        self,
        features: int,
        outputs_per_feature: int,
        *,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        context_features: int = 0,
    ):
        super().__init__()
        hidden_features = check_positive_int("hidden_features", hidden_features)
        hidden_layers = check_nonnegative_int("hidden_layers", hidden_layers)
        masks = made_masks(
            features,
            [hidden_features] * hidden_layers,
            outputs_per_feature=outputs_per_feature,
            context_features=context_features,
        )
        self.features = features
        self.context_features = context_features
        layers: list[nn.Module] = []
        for mask in masks[:-1]:
            layers += [_MaskedLinear(mask), nn.ReLU()]
        last = _MaskedLinear(masks[-1])
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.network = nn.Sequential(*layers, last)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Outputs, shape ``(*batch, P * features)``, parameter-major, for ``x`` of shape
        ``(*batch, features)`` and ``context`` of shape ``(*batch, context_features)``."""
        if self.context_features:
            x = torch.cat([context, x], dim=-1)
        return self.network(x)

    def extra_repr(self) -> str:
        return f"features={self.features}, context_features={self.context_features}"


class _Autoregressive(Transform):
    """What every autoregressive layer shares: the MADE conditioner, the two directions, the
    context. Subclasses give ``_transformer(inputs, output, inverse) -> (outputs, log_det)``;
    ``inverse_autoregressive`` says whether the network reads the noise (IAF) or the data (MAF).
    """

    inverse_autoregressive = False

    def __init__(
        self,
        features: int,
        parameters_per_feature: int,
        *,
        hidden_features: int,
        hidden_layers: int,
        context_features: int,
    ):
        super().__init__(features)
        self.context_features = check_nonnegative_int("context_features", context_features)
        self.made = MADE(
            self.features,
            parameters_per_feature,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
            context_features=self.context_features,
        )

    @abc.abstractmethod
    def _transformer(self, inputs: Tensor, output: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        """The element-wise map of ``inputs`` with parameters from the MADE ``output``."""

    def _map(self, inputs: Tensor, context: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        if self.context_features and context is None:
            raise ValueError(
                f"this {type(self).__name__} layer is conditional (context_features="
                f"{self.context_features}): call layer.condition(context) and use the result, "
                "or build the flow with ConditionalFlow."
            )
        # The network reads z in the IAF's forward and x in the MAF's inverse: one pass.
        if inverse != self.inverse_autoregressive:
            return self._transformer(inputs, self.made(inputs, context), inverse)
        # Otherwise it reads the outputs being computed: pass k fixes feature k.
        outputs = torch.zeros_like(inputs)
        for _ in range(self.features):
            outputs, log_det = self._transformer(inputs, self.made(outputs, context), inverse)
        return outputs, log_det

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._map(z, None, inverse=False)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._map(x, None, inverse=True)

    def condition(self, context: Tensor) -> Transform:
        """The plain transform for a given context.

        Args:
            context: Shape ``(*batch, context_features)``; its batch shape must broadcast to
                that of the points later transformed, e.g. ``(1, context_features)`` for one
                context shared by all points.

        Returns:
            A :class:`~course_lib.flows.base.Transform` sharing this layer's parameters.
        """
        if not self.context_features:
            raise ValueError(
                f"this {type(self).__name__} layer takes no context (context_features=0); "
                "build it with context_features > 0 to condition it."
            )
        context = check_points(
            "context", context, self.context_features, like=reference_tensor(self)
        )
        return _Conditioned(self, context)

    def extra_repr(self) -> str:
        return f"features={self.features}, context_features={self.context_features}"


class _Conditioned(Transform):
    """An autoregressive layer with its context fixed."""

    def __init__(self, layer: _Autoregressive, context: Tensor):
        super().__init__(layer.features)
        self.layer = layer
        self.context = context

    def _context(self, inputs: Tensor) -> Tensor:
        batch = inputs.shape[:-1]
        try:
            return self.context.expand(*batch, self.context.shape[-1])
        except RuntimeError:
            raise ValueError(
                f"context must have a batch shape that broadcasts to the points' {tuple(batch)}; "
                f"got context of shape {format_shape(self.context.shape)}. Pass one context row "
                "per point, or shape (1, context_features) for one shared context."
            ) from None

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.layer._map(z, self._context(z), inverse=False)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.layer._map(x, self._context(x), inverse=True)


class MAF(_Autoregressive):
    r"""A masked autoregressive flow layer: affine in each feature, conditioned on the data.

    .. math:: x_i = z_i\, e^{s_i(x_{<i})} + t_i(x_{<i}), \qquad i = 1, \dots, D,

    with :math:`(t, \tilde s)` the output of a :class:`MADE` and
    :math:`s = \beta \tanh(\tilde s / \beta)`. **Density is parallel**: the inverse
    :math:`z_i = (x_i - t_i(x_{<i})) e^{-s_i(x_{<i})}` needs one network pass on :math:`x`.
    **Sampling is sequential**: the forward needs :math:`D` passes, one per feature.
    :math:`\log|\det \partial x/\partial z| = \sum_i s_i`. Starts at the identity.

    Args:
        features: Number of features :math:`D`.
        hidden_features: Width of the MADE's hidden layers.
        hidden_layers: Number of hidden layers of the MADE.
        context_features: Number of context inputs; with more than 0 the layer is
            conditional and used through :meth:`condition`.
        scale_bound: :math:`\beta > 0`, the bound on :math:`|s|`.

    Example:
        >>> layer = MAF(3, hidden_features=8)
        >>> z = torch.randn(4, 3)
        >>> x, log_det = layer(z)
        >>> torch.equal(x, z), log_det.tolist()  # the identity at initialization
        (True, [0.0, 0.0, 0.0, 0.0])

    References:
        Papamakarios, G., Pavlakou, T. & Murray, I. (2017). Masked Autoregressive Flow for
        Density Estimation. NeurIPS. https://arxiv.org/abs/1705.07057
    """

    def __init__(
        self,
        features: int,
        *,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        context_features: int = 0,
        scale_bound: float = 3.0,
    ):
        super().__init__(
            features,
            2,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
            context_features=context_features,
        )
        self.scale_bound = check_positive_float("scale_bound", scale_bound)

    def _transformer(self, inputs: Tensor, output: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        return _affine_transformer(inputs, output, inverse, scale_bound=self.scale_bound)


class IAF(MAF):
    r"""An inverse autoregressive flow layer: affine in each feature, conditioned on the noise.

    .. math:: x_i = z_i\, e^{s_i(z_{<i})} + t_i(z_{<i}), \qquad i = 1, \dots, D,

    as :class:`MAF` but with the network reading :math:`z`. **Sampling is parallel**: the
    forward needs one network pass. **Density is sequential**: the inverse
    :math:`z_i = (x_i - t_i(z_{<i})) e^{-s_i(z_{<i})}` needs :math:`D` passes. Suits
    variational inference, which samples and scores its own samples
    (:meth:`~course_lib.flows.base.Flow.rsample_and_log_prob`). Starts at the identity.

    Args: as for :class:`MAF`.

    References:
        Kingma, D. P., Salimans, T., Jozefowicz, R., Chen, X., Sutskever, I. & Welling, M.
        (2016). Improved Variational Inference with Inverse Autoregressive Flow. NeurIPS.
        https://arxiv.org/abs/1606.04934
    """

    inverse_autoregressive = True


class ConditionalFlow(nn.Module):
    r"""A conditional density :math:`p(x \mid c)`: a module whose ``forward(context)`` returns
    the :class:`~course_lib.flows.base.Flow` for that context.

    Conditional layers (``context_features > 0``) are conditioned with their
    ``condition(context)``; the others are used as they are.

    Args:
        base: The base distribution, as for :class:`~course_lib.flows.base.Flow`.
        transforms: The transforms, conditional or not, base to data.

    Example:
        >>> flow = ConditionalFlow(standard_normal(2), [MAF(2, context_features=1)])
        >>> context = torch.tensor([[0.0], [1.0]])
        >>> tuple(flow(context).log_prob(torch.zeros(2, 2)).shape)
        (2,)
    """

    def __init__(self, base, transforms: Iterable[Transform]):
        super().__init__()
        self.flow = Flow(base, transforms)
        self.context_features = max(getattr(t, "context_features", 0) for t in self.flow.transform)
        if not self.context_features:
            raise ValueError(
                "transforms must include a conditional layer (context_features > 0); for an "
                "unconditional flow use Flow."
            )

    def forward(self, context: Tensor) -> Flow:
        """The flow for ``context``, shape ``(*batch, context_features)``; its ``log_prob``
        takes points whose batch shape ``context``'s broadcasts to."""
        steps = [
            t.condition(context) if getattr(t, "context_features", 0) else t
            for t in self.flow.transform
        ]
        return Flow(self.flow.base, steps)


def _autoregressive_flow(
    layer: type[MAF],
    features: int,
    layers: int,
    context_features: int,
    seed: int | torch.Generator | None,
    **options,
) -> Flow | ConditionalFlow:
    """Layers with the features reversed between them, on a standard normal base."""
    layers = check_positive_int("layers", layers)
    features = check_positive_int("features", features)
    transforms: list[Transform] = []
    with seeded_init(check_seed(seed)):
        for k in range(layers):
            if k > 0 and features > 1:
                transforms.append(ReversePermutation(features))
            transforms.append(layer(features, context_features=context_features, **options))
    if context_features:
        return ConditionalFlow(standard_normal(features), transforms)
    return Flow(standard_normal(features), transforms)


def maf(
    features: int,
    *,
    layers: int = 5,
    hidden_features: int = 64,
    hidden_layers: int = 2,
    context_features: int = 0,
    scale_bound: float = 3.0,
    seed: int | torch.Generator | None = None,
) -> Flow | ConditionalFlow:
    r"""A masked autoregressive flow: :class:`MAF` layers with the feature order reversed
    between them, on a standard normal base; starts as the standard normal.

    ``log_prob`` costs one network pass per layer; ``sample`` ``features`` passes per layer.

    Args:
        features: Number of features.
        layers: Number of MAF layers.
        hidden_features: Width of each MADE's hidden layers.
        hidden_layers: Number of hidden layers of each MADE.
        context_features: Size of the context; with more than 0 the result is a
            :class:`ConditionalFlow`.
        scale_bound: :math:`\beta > 0`, the bound on each layer's log-scale (see :class:`MAF`).
        seed: Seed or CPU generator for the initial weights.

    Returns:
        A :class:`~course_lib.flows.base.Flow`, or a :class:`ConditionalFlow`.

    Example:
        >>> flow = maf(2, layers=3, hidden_features=16, seed=0)
        >>> round(flow.log_prob(torch.zeros(2)).item(), 4)
        -1.8379
    """
    options = {
        "hidden_features": hidden_features,
        "hidden_layers": hidden_layers,
        "scale_bound": scale_bound,
    }
    return _autoregressive_flow(MAF, features, layers, context_features, seed, **options)


def iaf(
    features: int,
    *,
    layers: int = 5,
    hidden_features: int = 64,
    hidden_layers: int = 2,
    context_features: int = 0,
    scale_bound: float = 3.0,
    seed: int | torch.Generator | None = None,
) -> Flow | ConditionalFlow:
    r"""An inverse autoregressive flow: :class:`IAF` layers with the feature order reversed
    between them; as :func:`maf`, but ``sample`` costs one pass per layer and ``log_prob``
    ``features`` passes per layer.

    Example:
        >>> flow = iaf(2, layers=3, hidden_features=16, seed=0)
        >>> tuple(flow.rsample((5,)).shape)
        (5, 2)
    """
    options = {
        "hidden_features": hidden_features,
        "hidden_layers": hidden_layers,
        "scale_bound": scale_bound,
    }
    return _autoregressive_flow(IAF, features, layers, context_features, seed, **options)
