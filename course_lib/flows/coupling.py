r"""Affine coupling layers and RealNVP flows (Dinh et al., 2017).

A coupling layer splits the features in two by a mask: the masked part
:math:`z_A` passes unchanged and sets, through a neural network (the
*conditioner*), the shift and scale of an element-wise affine map of the rest
:math:`z_B`. The Jacobian is triangular, so its log-det is the sum of the
log-scales, in :math:`O(features)`, however complex the network. Signs follow
the convention of :mod:`course_lib.flows.base`.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable

import torch
from torch import Tensor, nn

from course_lib._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_seed,
    describe,
    format_shape,
    seeded_init,
)
from course_lib.flows._checks import check_points
from course_lib.flows.base import Flow, Transform, standard_normal
from course_lib.flows.linear import RandomPermutation, ReversePermutation

__all__ = ["AffineCoupling", "affine_coupling", "mlp", "realnvp"]


def mlp(
    features_in: int, features_out: int, *, hidden_features: int = 64, hidden_layers: int = 2
) -> nn.Sequential:
    """A ReLU multilayer perceptron whose last layer starts at zero (so it outputs zeros).

    The default conditioner of :class:`AffineCoupling`: a zero output means a
    shift of 0 and a scale of 1, so the coupling starts at the identity.

    Args:
        features_in: Input size.
        features_out: Output size.
        hidden_features: Width of the hidden layers.
        hidden_layers: Number of hidden layers (0 for an affine map).

    Returns:
        ``nn.Sequential`` mapping ``(*batch, features_in)`` to ``(*batch, features_out)``.

    Example:
        >>> net = mlp(2, 4, hidden_features=8)
        >>> net(torch.randn(3, 2)).abs().max().item()
        0.0
    """
    features_in = check_positive_int("features_in", features_in)
    features_out = check_positive_int("features_out", features_out)
    hidden_features = check_positive_int("hidden_features", hidden_features)
    hidden_layers = check_nonnegative_int("hidden_layers", hidden_layers)
    layers: list[nn.Module] = []
    width = features_in
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, hidden_features), nn.ReLU()]
        width = hidden_features
    last = nn.Linear(width, features_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


def _check_mask(mask: object, features: int) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(
            f"mask must be a torch.Tensor of shape ({features},) with True (or 1) for the "
            f"features that condition the others; got {describe(mask)}."
        )
    if tuple(mask.shape) != (features,):
        raise ValueError(
            f"mask must have shape ({features},), one entry per feature; got "
            f"{format_shape(mask.shape)}."
        )
    if mask.dtype != torch.bool:
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(
                f"mask must be boolean or hold only 0 and 1; got {mask.tolist()}. "
                "Build it e.g. as torch.arange(features) < features // 2."
            )
        mask = mask != 0
    conditioning = int(mask.sum())
    if conditioning in (0, features):
        raise ValueError(
            "mask must have at least one True entry (a feature that conditions) and one False "
            f"entry (a feature that is transformed); got {mask.tolist()}."
        )
    return mask


def _split(mask: Tensor) -> tuple[Tensor | slice, Tensor | slice, Tensor | bool]:
    """``(A, B, order)``: the conditioning and transformed features, and how to put them back.

    When the features of :math:`A` come first or last (the masks of :func:`realnvp`), ``A``
    and ``B`` are slices and ``order`` says whether :math:`A` comes first: slicing is a view,
    and its gradient is cheaper than an index's scatter. Otherwise they are index tensors and
    ``order`` undoes the split: ``x = cat([x_A, x_B])[..., order]``.
    """
    conditioning = torch.nonzero(mask)[:, 0]
    transformed = torch.nonzero(~mask)[:, 0]
    size, features = conditioning.numel(), mask.numel()
    if bool(mask[:size].all()):
        return slice(0, size), slice(size, features), True
    if bool(mask[features - size :].all()):
        return slice(features - size, features), slice(0, features - size), False
    return conditioning, transformed, torch.argsort(torch.cat([conditioning, transformed]))


def _coupling(
    z: Tensor,
    split: tuple[Tensor | slice, Tensor | slice, Tensor | bool],
    conditioner: Callable[[Tensor], Tensor],
    transformer: Callable[[Tensor, Tensor, bool], tuple[Tensor, Tensor]],
    inverse: bool,
) -> tuple[Tensor, Tensor]:
    """Any coupling map: ``transformer(z_B, conditioner(z_A), inverse)`` gives
    ``(out_B, log_det)``; ``split`` is :func:`_split`'s."""
    conditioning, transformed, order = split
    z_a, z_b = z[..., conditioning], z[..., transformed]
    out_b, log_det = transformer(z_b, conditioner(z_a), inverse)
    if isinstance(order, bool):
        return torch.cat([z_a, out_b] if order else [out_b, z_a], dim=-1), log_det
    return torch.cat([z_a, out_b], dim=-1)[..., order], log_det


def _affine_transformer(
    z: Tensor, output: Tensor, inverse: bool, *, scale_bound: float
) -> tuple[Tensor, Tensor]:
    """The element-wise affine map of ``z`` set by a network ``output`` (shift, then raw
    log-scale, each ``z.shape[-1]`` wide); shared by coupling and autoregressive layers."""
    width = z.shape[-1]
    if output.shape[-1] != 2 * width:
        raise ValueError(
            f"the conditioner must output 2 * {width} = {2 * width} values per point "
            f"(shift, then raw log-scale); got shape {format_shape(output.shape)}."
        )
    shift, raw_log_scale = output[..., :width], output[..., width:]
    log_scale = scale_bound * torch.tanh(raw_log_scale / scale_bound)
    if inverse:
        return (z - shift) * torch.exp(-log_scale), -log_scale.sum(-1)
    return z * torch.exp(log_scale) + shift, log_scale.sum(-1)


def affine_coupling(
    z: Tensor,
    mask: Tensor,
    conditioner: Callable[[Tensor], Tensor],
    *,
    scale_bound: float = 3.0,
    inverse: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""The affine coupling map of RealNVP, as a function of its conditioner.

    .. math:: x_A = z_A, \qquad x_B = z_B \odot e^{s(z_A)} + t(z_A), \qquad
              s = \beta \tanh(\tilde s / \beta),

    where ``conditioner(z_A)`` returns :math:`(t, \tilde s)` side by side. Invertible for
    any conditioner: :math:`z_B = (x_B - t(x_A)) \odot e^{-s(x_A)}`, and
    :math:`\log|\det \partial x / \partial z| = \sum_{i \in B} s_i(z_A)`.
    :class:`AffineCoupling` is this map with a trained conditioner.

    Args:
        z: Inputs, shape ``(*batch, features)``; data points ``x`` when ``inverse``.
        mask: Shape ``(features,)``, true for the features of :math:`A`.
        conditioner: Maps ``(*batch, |A|)`` to ``(*batch, 2 |B|)``: shift, then raw log-scale.
        scale_bound: :math:`\beta > 0`, the bound on :math:`|s|`.
        inverse: Whether to apply the inverse map.

    Returns:
        ``(outputs, log_det)`` with shapes ``(*batch, features)`` and ``batch``, the
        log-det of the map applied; features stay in their original order.

    Example:
        >>> mask = torch.tensor([True, False])
        >>> def conditioner(z_a):  # shift z_a + 1, raw log-scale 0.5
        ...     return torch.cat([z_a + 1, torch.full_like(z_a, 0.5)], -1)
        >>> x, log_det = affine_coupling(torch.tensor([[2.0, 1.0]]), mask, conditioner)
        >>> [round(v, 4) for v in x[0].tolist()], round(log_det.item(), 4)
        ([2.0, 4.6412], 0.4954)
    """
    z = check_points("z", z, None)
    mask = _check_mask(mask, z.shape[-1]).to(z.device)
    if not callable(conditioner):
        raise TypeError(
            f"conditioner must be callable on z[..., mask]; got {describe(conditioner)}."
        )
    scale_bound = check_positive_float("scale_bound", scale_bound)
    transformer = functools.partial(_affine_transformer, scale_bound=scale_bound)
    return _coupling(z, _split(mask), conditioner, transformer, inverse)


def _build_conditioner(
    conditioner: Callable[[int, int], nn.Module] | None,
    features_in: int,
    features_out: int,
    *,
    hidden_features: int,
    hidden_layers: int,
) -> nn.Module:
    """The conditioner network: :func:`mlp` by default, else what the factory builds."""
    if conditioner is None:
        return mlp(
            features_in,
            features_out,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
        )
    if not callable(conditioner):
        raise TypeError(
            "conditioner must be None or a factory (features_in, features_out) -> "
            f"nn.Module; got {describe(conditioner)}."
        )
    network = conditioner(features_in, features_out)
    if not isinstance(network, nn.Module):
        raise TypeError(
            "conditioner must build an nn.Module, so that its parameters are trained; "
            f"conditioner({features_in}, {features_out}) returned {describe(network)}."
        )
    return network


class _Coupling(Transform):
    """What every coupling layer shares: the mask, its split and the conditioner network.

    Subclasses give ``_transformer(z_b, output, inverse) -> (out_b, log_det)``, the
    element-wise map of the transformed features set by the conditioner's ``output``,
    which has ``parameters_per_feature * |B|`` entries per point.
    """

    def __init__(
        self,
        features: int,
        mask: Tensor,
        parameters_per_feature: int,
        *,
        hidden_features: int,
        hidden_layers: int,
        conditioner: Callable[[int, int], nn.Module] | None,
    ):
        super().__init__(features)
        mask = _check_mask(mask, self.features)
        self.register_buffer("mask", mask.clone())
        conditioning, transformed, order = _split(mask)
        # Slices (A first or last) are kept as they are; index tensors as buffers, which
        # follow the module's device.
        self._blocks = (conditioning, transformed, order) if isinstance(order, bool) else None
        if self._blocks is None:
            self.register_buffer("_conditioning", conditioning, persistent=False)
            self.register_buffer("_transformed", transformed, persistent=False)
            # x = cat([x_A, x_B])[..., _order] puts the features back in place.
            self.register_buffer("_order", order, persistent=False)
        size = int(mask.sum())
        self.conditioner = _build_conditioner(
            conditioner,
            size,
            parameters_per_feature * (self.features - size),
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
        )

    @abc.abstractmethod
    def _transformer(self, z_b: Tensor, output: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        """``(out_b, log_det)``: the transformed features, given the conditioner's output."""

    def _split(self) -> tuple[Tensor | slice, Tensor | slice, Tensor | bool]:
        if self._blocks is not None:
            return self._blocks
        return self._conditioning, self._transformed, self._order

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return _coupling(z, self._split(), self.conditioner, self._transformer, inverse=False)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return _coupling(x, self._split(), self.conditioner, self._transformer, inverse=True)

    def extra_repr(self) -> str:
        return f"features={self.features}, mask={self.mask.int().tolist()}"


class AffineCoupling(_Coupling):
    r"""The affine coupling layer of RealNVP.

    With :math:`A` the features where ``mask`` is true and :math:`B` the others,

    .. math:: x_A = z_A, \qquad x_B = z_B \odot e^{s(z_A)} + t(z_A),

    where :math:`(t, \tilde s)` is the output of the conditioner network and the
    log-scale is bounded smoothly, :math:`s = \beta \tanh(\tilde s / \beta)`, which
    keeps early training stable. The inverse is
    :math:`z_B = (x_B - t(x_A)) \odot e^{-s(x_A)}` (as :math:`x_A = z_A`), so the
    layer is invertible for any conditioner, and

    .. math:: \log\left|\det \frac{\partial x}{\partial z}\right| = \sum_{i \in B} s_i(z_A).

    Both directions cost one network evaluation. The default conditioner is
    :func:`mlp`, whose zero last layer makes the layer start at the identity.

    Args:
        features: Number of features.
        mask: Shape ``(features,)``, boolean or 0/1: true for the features of
            :math:`A`, which pass unchanged and condition the others; at least one
            true and one false entry. Stored as a boolean buffer.
        hidden_features: Width of the default conditioner's hidden layers.
        hidden_layers: Number of hidden layers of the default conditioner.
        conditioner: A factory ``(features_in, features_out) -> nn.Module`` used instead of
            :func:`mlp`; it is called with :math:`|A|` and :math:`2|B|`, and the
            module's output is split into :math:`t` (first :math:`|B|` entries) and
            :math:`\tilde s`. Zero its last layer to start at the identity.
        scale_bound: :math:`\beta > 0`, the bound on :math:`|s|`.

    Raises:
        TypeError: If ``mask`` is not a tensor or ``conditioner`` builds no ``nn.Module``.
        ValueError: If ``mask`` has the wrong shape or values.

    Example:
        >>> layer = AffineCoupling(4, torch.tensor([True, True, False, False]), hidden_features=8)
        >>> z = torch.randn(3, 4)
        >>> x, log_det = layer(z)
        >>> torch.equal(x, z), log_det.tolist()  # the identity at initialization
        (True, [0.0, 0.0, 0.0])

    References:
        Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
        Real NVP. ICLR. https://arxiv.org/abs/1605.08803
    """

    def __init__(
        self,
        features: int,
        mask: Tensor,
        *,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        conditioner: Callable[[int, int], nn.Module] | None = None,
        scale_bound: float = 3.0,
    ):
        super().__init__(
            features,
            mask,
            2,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
            conditioner=conditioner,
        )
        self.scale_bound = check_positive_float("scale_bound", scale_bound)

    def _transformer(self, z_b: Tensor, output: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        return _affine_transformer(z_b, output, inverse, scale_bound=self.scale_bound)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale_bound={self.scale_bound:g}"


def realnvp(
    features: int,
    *,
    layers: int = 8,
    hidden_features: int = 64,
    hidden_layers: int = 2,
    permutation: str = "alternate",
    scale_bound: float = 3.0,
    seed: int | torch.Generator | None = None,
) -> Flow:
    r"""A RealNVP flow: affine coupling layers on a standard normal base.

    .. math:: x = T_K \circ P \circ \dots \circ P \circ T_1(z), \qquad z \sim \mathcal{N}(0, I).

    A coupling layer leaves its conditioning features unchanged, so successive
    layers must change roles. ``permutation`` says how:

    * ``"alternate"``: no permutation; the masks alternate between the first
      ``features // 2`` features and the others.
    * ``"reverse"``: the first ``features // 2`` features always condition, with
      a :class:`~course_lib.flows.linear.ReversePermutation` between layers.
    * ``"random"``: likewise with a fresh
      :class:`~course_lib.flows.linear.RandomPermutation` between layers.

    The flow starts as the standard normal (every coupling starts at the identity).

    Args:
        features: Number of features, at least 2.
        layers: Number :math:`K` of coupling layers.
        hidden_features: Width of each conditioner's hidden layers.
        hidden_layers: Number of hidden layers of each conditioner.
        permutation: ``"alternate"``, ``"reverse"`` or ``"random"``.
        scale_bound: :math:`\beta > 0`, the bound on each coupling's log-scale (see
            :class:`AffineCoupling`).
        seed: Seed or CPU generator for the initial weights and random permutations.

    Returns:
        A :class:`~course_lib.flows.base.Flow`.

    Example:
        >>> flow = realnvp(2, layers=4, hidden_features=16, seed=0)
        >>> x = flow.sample((10,))
        >>> tuple(x.shape), round(flow.log_prob(torch.zeros(2)).item(), 4)
        ((10, 2), -1.8379)

    References:
        Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
        Real NVP. ICLR. https://arxiv.org/abs/1605.08803
    """
    features = check_positive_int("features", features)
    if features < 2:
        raise ValueError(
            f"features must be at least 2 for a coupling flow, which needs features to "
            f"condition on and features to transform; got {features}. In one dimension use "
            "element-wise transforms such as SinhArcsinh."
        )
    layers = check_positive_int("layers", layers)
    permutation = check_choice("permutation", permutation, ("alternate", "reverse", "random"))
    scale_bound = check_positive_float("scale_bound", scale_bound)
    first_half = torch.arange(features) < features // 2
    transforms: list[Transform] = []
    with seeded_init(check_seed(seed)) as generator:
        for k in range(layers):
            mask = ~first_half if permutation == "alternate" and k % 2 else first_half
            if k > 0 and permutation == "reverse":
                transforms.append(ReversePermutation(features))
            elif k > 0 and permutation == "random":
                transforms.append(RandomPermutation(features, seed=generator))
            transforms.append(
                AffineCoupling(
                    features,
                    mask,
                    hidden_features=hidden_features,
                    hidden_layers=hidden_layers,
                    scale_bound=scale_bound,
                )
            )
    return Flow(standard_normal(features), transforms)
