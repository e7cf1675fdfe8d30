r"""Monotone rational-quadratic spline transforms (Durkan et al., 2019): element-wise, in
coupling layers and in autoregressive layers, and the neural spline flow built of them.

On :math:`[-B, B]` the map is a monotone rational-quadratic spline with :math:`K` bins
whose knot positions, heights and derivatives are parameters; outside it is the identity
(linear tails), with derivative 1 at :math:`\pm B` so that the map is continuously
differentiable. Signs follow the convention of :mod:`course_lib.flows.base`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validation import (
    check_choice,
    check_dtype,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
    format_shape,
    seeded_init,
)
from course_lib.flows._checks import check_points
from course_lib.flows.autoregressive import ConditionalFlow, _Autoregressive
from course_lib.flows.base import Flow, Transform, standard_normal
from course_lib.flows.coupling import _Coupling
from course_lib.flows.linear import ReversePermutation

__all__ = [
    "RQSpline",
    "SplineAutoregressive",
    "SplineCoupling",
    "neural_spline_flow",
    "rq_spline",
]

# Each bin keeps at least this share of the box in width and height, and every knot at
# least this derivative: the map stays strictly increasing, and its inverse and log-det
# finite, whatever the network outputs (the values of Durkan et al. and nflows).
MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3


def _softmax(t: Tensor) -> Tensor:
    """``torch.softmax`` over the last dimension, written out: for the few bins of a spline
    it is several times faster on CPU. The max is detached, as the result does not depend on
    it (its gradient through the max is zero)."""
    e = torch.exp(t - t.amax(-1, keepdim=True).detach())
    return e / e.sum(-1, keepdim=True)


def _rq_spline(
    x: Tensor,
    widths: Tensor,
    heights: Tensor,
    derivatives: Tensor,
    *,
    inverse: bool,
    bound: float,
    min_bin_width: float = MIN_BIN_WIDTH,
    min_bin_height: float = MIN_BIN_HEIGHT,
    min_derivative: float = MIN_DERIVATIVE,
) -> tuple[Tensor, Tensor]:
    """:func:`rq_spline` without checks, and with element-wise log-derivatives.

    Written for speed: the spline's tensors are small, so the cost is the number of
    operations, not their size. Widths and heights share one softmax and one cumsum, and
    every per-bin quantity comes from one gather in one table.
    """
    bins = widths.shape[-1]
    if widths.shape != heights.shape:
        widths, heights = torch.broadcast_tensors(widths, heights)
    lengths = torch.stack([widths, heights], dim=-2)  # (*, features, 2, bins)
    if min_bin_width == min_bin_height:
        share = torch.add(min_bin_width, _softmax(lengths), alpha=1.0 - min_bin_width * bins)
    else:
        minimum = lengths.new_tensor([[min_bin_width], [min_bin_height]])
        share = minimum + (1.0 - minimum * bins) * _softmax(lengths)
    # The inner knots; the ends are -B and B exactly rather than summed, so that the box is
    # [-B, B] to the last bit.
    inner = torch.add(-bound, torch.cumsum(share[..., :-1], dim=-1), alpha=2.0 * bound)
    slopes = torch.add(min_derivative, F.softplus(derivatives))
    shape = inner.shape[:-2]
    if slopes.shape[:-1] != shape:
        slopes = slopes.expand(*shape, slopes.shape[-1])
    ends = inner.new_tensor([-bound, bound, 1.0]).expand(*shape, 3)
    low, high, one = ends[..., :1], ends[..., 1:2], ends[..., 2:]
    pieces = [low, inner[..., 0, :], high, low, inner[..., 1, :], high]
    # With K - 1 derivatives, slope 1 at -B and B matches the identity tails.
    pieces += [one, slopes, one] if derivatives.shape[-1] == bins - 1 else [slopes]
    table = torch.cat(pieces, dim=-1)  # x knots, y knots, derivatives: 3 (K + 1) entries
    inside = (x >= -bound) & (x <= bound)
    clamped = x.clamp(-bound, bound)
    # The bin of each point: how many inner knots lie at or below it (no searchsorted, cheap
    # for the few bins of a flow and batched over any shape).
    index = (clamped.unsqueeze(-1) >= inner[..., 1 if inverse else 0, :]).sum(-1, keepdim=True)
    k = bins + 1
    offsets = torch.tensor([0, 1, k, k + 1, 2 * k, 2 * k + 1], device=x.device)
    table = table.expand(*clamped.shape, table.shape[-1])
    x0, x1, y0, y1, d0, d1 = table.gather(-1, index + offsets).unbind(-1)
    width, height = x1 - x0, y1 - y0
    slope = height / width
    curvature = d0 + d1 - slope - slope
    if inverse:
        # Solve a xi^2 + b xi + c = 0 for xi in [0, 1] (Durkan et al., 2019, eqs. 6-8) with
        # the root 2c / (-b - sqrt(b^2 - 4ac)), which does not cancel; rounding can make the
        # discriminant slightly negative, hence the clamp.
        rise = clamped - y0
        a = height * (slope - d0) + rise * curvature
        b = height * d0 - rise * curvature
        c = -slope * rise
        discriminant = (b * b - 4.0 * a * c).clamp_min(0.0)
        xi = ((c + c) / (-b - discriminant.sqrt())).clamp(0.0, 1.0)
    else:
        xi = ((clamped - x0) / width).clamp(0.0, 1.0)
    rest = 1.0 - xi
    mix = xi * rest
    denominator = slope + curvature * mix
    numerator = d1 * xi * xi + (slope + slope) * mix + d0 * rest * rest
    ratio = slope / denominator
    log_derivative = torch.log(numerator * ratio * ratio)
    if inverse:
        outputs, log_derivative = x0 + xi * width, -log_derivative
    else:
        outputs = y0 + height * (slope * xi * xi + d0 * mix) / denominator
    return torch.where(inside, outputs, x), torch.where(inside, log_derivative, 0.0)


def rq_spline(
    x: Tensor,
    widths: Tensor,
    heights: Tensor,
    derivatives: Tensor,
    *,
    inverse: bool = False,
    bound: float = 3.0,
    min_bin_width: float = MIN_BIN_WIDTH,
    min_bin_height: float = MIN_BIN_HEIGHT,
    min_derivative: float = MIN_DERIVATIVE,
) -> tuple[Tensor, Tensor]:
    r"""The monotone rational-quadratic spline of Durkan et al. (2019), feature by feature.

    The box :math:`[-B, B]^2` is cut into :math:`K` bins with knots
    :math:`(x_k, y_k)`, :math:`x_0 = y_0 = -B`, :math:`x_K = y_K = B`, and derivatives
    :math:`\delta_k > 0` at the knots. In bin :math:`k`, with width :math:`w_k`, height
    :math:`h_k`, slope :math:`s_k = h_k / w_k` and :math:`\xi = (x - x_k) / w_k \in [0, 1]`,

    .. math:: y = y_k + \frac{h_k \left[s_k \xi^2 + \delta_k \xi (1 - \xi)\right]}
              {s_k + (\delta_{k+1} + \delta_k - 2 s_k)\, \xi (1 - \xi)},

    .. math:: \frac{dy}{dx} = \frac{s_k^2 \left[\delta_{k+1} \xi^2 + 2 s_k \xi (1 - \xi)
              + \delta_k (1 - \xi)^2\right]}{\left[s_k + (\delta_{k+1} + \delta_k - 2 s_k)\,
              \xi (1 - \xi)\right]^2} > 0,

    and :math:`y = x` outside :math:`[-B, B]`. The parameters are unconstrained, as a
    network outputs them: bin widths are :math:`w = 2B\,[m_w + (1 - K m_w)\,
    \mathrm{softmax}(\text{widths})]` (heights alike), derivatives
    :math:`\delta = m_\delta + \mathrm{softplus}(\text{derivatives})`, the conventions of
    nflows and Pyro. With :math:`K - 1` derivatives (inner knots) those at :math:`\pm B`
    are 1, so the map is continuously differentiable; with :math:`K + 1` all are given.
    The inverse solves a quadratic in :math:`\xi` in its numerically stable form.

    Args:
        x: Inputs, shape ``(*batch, features)``; data points when ``inverse``.
        widths: Unnormalized bin widths, shape ``(*batch, features, bins)``, or with
            fewer leading dimensions that broadcast (e.g. ``(features, bins)``).
        heights: Unnormalized bin heights, shaped like ``widths``.
        derivatives: Unnormalized derivatives, last dimension ``bins - 1`` or ``bins + 1``.
        inverse: Whether to apply the inverse map.
        bound: :math:`B > 0`, the half-width of the box.
        min_bin_width: :math:`m_w`, the least share of :math:`2B` a bin may have.
        min_bin_height: The same for heights.
        min_derivative: :math:`m_\delta > 0`, the least derivative at a knot.

    Returns:
        ``(outputs, log_det)`` with shapes ``(*batch, features)`` and ``batch``: the
        log-det of the map applied, summed over features.

    Raises:
        TypeError: If an argument is not a floating tensor of ``x``'s dtype.
        ValueError: If shapes do not match, a value is not finite, or the minimums are
            impossible (``bins * min_bin_width >= 1``).

    Example:
        >>> zeros = torch.zeros(1, 4)  # 4 equal bins, slope 1 at the ends
        >>> inner = torch.full((1, 3), math.log(math.expm1(1.0 - MIN_DERIVATIVE)))
        >>> y, log_det = rq_spline(torch.tensor([[0.5]]), zeros, zeros, inner)
        >>> round(y.item(), 6), abs(log_det.item()) < 1e-6  # all slopes 1: the identity
        (0.5, True)
        >>> y, log_det = rq_spline(torch.tensor([[7.0]]), zeros, zeros, inner)
        >>> y.item(), log_det.item()  # a linear tail
        (7.0, 0.0)

    References:
        Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
        Flows. NeurIPS. https://arxiv.org/abs/1906.04032
    """
    x = check_points("x", x, None)
    bound = check_positive_float("bound", bound)
    min_derivative = check_positive_float("min_derivative", min_derivative)
    bins = _check_knot_parameters(x, widths, heights, derivatives)
    for name, minimum in (("min_bin_width", min_bin_width), ("min_bin_height", min_bin_height)):
        minimum = check_positive_float(name, minimum)
        if minimum * bins >= 1.0:
            raise ValueError(
                f"{name} must be below 1 / bins = {1.0 / bins:.4g} so that {bins} bins fit in "
                f"the box; got {minimum:g}."
            )
    outputs, log_derivative = _rq_spline(
        x,
        widths,
        heights,
        derivatives,
        inverse=inverse,
        bound=bound,
        min_bin_width=min_bin_width,
        min_bin_height=min_bin_height,
        min_derivative=min_derivative,
    )
    return outputs, log_derivative.sum(-1)


def _check_knot_parameters(x: Tensor, widths: object, heights: object, derivatives: object) -> int:
    """Checks the three parameter tensors of :func:`rq_spline`; returns the number of bins."""
    for name, value in (("widths", widths), ("heights", heights), ("derivatives", derivatives)):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor of shape (*batch, features, bins); got "
                f"{describe(value)}."
            )
        check_dtype(name, value, like=x, like_name="x")
        if value.device != x.device:
            raise ValueError(
                f"{name} must be on the device of x ({x.device}); got {value.device}."
            )
        if value.ndim < 2 or value.ndim > x.ndim + 1:
            raise ValueError(
                f"{name} must have shape (*batch, features, bins) with at most the batch "
                f"dimensions of x {format_shape(x.shape)}; got {format_shape(value.shape)}."
            )
        try:
            fits = torch.broadcast_shapes(value.shape[:-1], x.shape) == x.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"{name} must have shape (*batch, features, bins) broadcasting to x's "
                f"{format_shape(x.shape)} in all but the last dimension; got "
                f"{format_shape(value.shape)}."
            )
        check_tensor(name, value, finite=True)
    bins = widths.shape[-1]
    if heights.shape[-1] != bins:
        raise ValueError(
            f"heights must have as many bins as widths ({bins}) in its last dimension; got "
            f"{format_shape(heights.shape)}."
        )
    if derivatives.shape[-1] not in (bins - 1, bins + 1):
        raise ValueError(
            f"derivatives must have bins - 1 = {bins - 1} (inner knots) or bins + 1 = "
            f"{bins + 1} (all knots) entries in its last dimension; got "
            f"{format_shape(derivatives.shape)}."
        )
    return bins


# Raw derivatives are shifted by softplus^-1(1 - m): a raw output of 0 then means slope 1
# at every knot, and with equal bins the identity, so layers with zeroed networks start there.
_IDENTITY_DERIVATIVE = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def _spline_transformer(
    inputs: Tensor, output: Tensor, inverse: bool, *, bins: int, bound: float
) -> tuple[Tensor, Tensor]:
    """The spline of each feature of ``inputs`` set by a network ``output`` of
    ``(3 bins - 1) * features`` entries, parameter-major; shared by coupling and
    autoregressive layers."""
    features = inputs.shape[-1]
    count = 3 * bins - 1
    if output.shape[-1] != count * features:
        raise ValueError(
            f"the conditioner must output (3 * bins - 1) * {features} = {count * features} "
            f"values per point (widths, heights, inner derivatives); got shape "
            f"{format_shape(output.shape)}."
        )
    parameters = output.unflatten(-1, (count, features)).transpose(-1, -2)
    outputs, log_derivative = _rq_spline(
        inputs,
        parameters[..., :bins],
        parameters[..., bins : 2 * bins],
        parameters[..., 2 * bins :] + _IDENTITY_DERIVATIVE,
        inverse=inverse,
        bound=bound,
    )
    return outputs, log_derivative.sum(-1)


def _check_bins(bins: object) -> int:
    bins = check_positive_int("bins", bins)
    if bins * MIN_BIN_WIDTH >= 1.0:
        raise ValueError(f"bins must be below {round(1 / MIN_BIN_WIDTH)}; got {bins}.")
    return bins


class RQSpline(Transform):
    r"""A learnable rational-quadratic spline for each feature, computed by :func:`rq_spline`.

    Each feature has its own :math:`K` widths, :math:`K` heights and :math:`K - 1`
    inner derivatives; the map is the identity outside :math:`[-B, B]`. The raw
    derivatives are offset by :math:`\mathrm{softplus}^{-1}(1 - m_\delta)`, so that the
    parameters start at zero and the transform at the identity. Costs
    :math:`O(features \cdot K)` per point, both directions.

    Args:
        features: Number of features.
        bins: Number :math:`K` of bins.
        bound: :math:`B > 0`, the half-width of the box.

    Example:
        >>> f = RQSpline(2, bins=5)
        >>> z = torch.randn(4, 2)
        >>> x, log_det = f(z)
        >>> torch.allclose(x, z, atol=1e-6), bool((log_det.abs() < 1e-5).all())
        (True, True)
    """

    def __init__(self, features: int, *, bins: int = 8, bound: float = 3.0):
        super().__init__(features)
        self.bins = _check_bins(bins)
        self.bound = check_positive_float("bound", bound)
        self.widths = nn.Parameter(torch.zeros(self.features, self.bins))
        self.heights = nn.Parameter(torch.zeros(self.features, self.bins))
        self.derivatives = nn.Parameter(torch.zeros(self.features, self.bins - 1))

    def _map(self, inputs: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        outputs, log_derivative = _rq_spline(
            inputs,
            self.widths,
            self.heights,
            self.derivatives + _IDENTITY_DERIVATIVE,
            inverse=inverse,
            bound=self.bound,
        )
        return outputs, log_derivative.sum(-1)

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._map(z, inverse=False)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._map(x, inverse=True)

    def extra_repr(self) -> str:
        return f"features={self.features}, bins={self.bins}, bound={self.bound:g}"


class SplineCoupling(_Coupling):
    r"""A coupling layer with rational-quadratic splines: the masked features :math:`z_A`
    pass unchanged and set, through the conditioner, the splines of the others.

    .. math:: x_A = z_A, \qquad x_i = \mathrm{RQS}\big(z_i;\, \theta_i(z_A)\big), \quad i \in B,

    with :math:`\mathrm{RQS}` as in :func:`rq_spline` and :math:`\theta_i` the
    :math:`3K - 1` raw widths, heights and inner derivatives of feature :math:`i`. Both
    directions cost one network pass;
    :math:`\log|\det \partial x/\partial z| = \sum_{i \in B} \log \mathrm{RQS}'(z_i)`.
    The default conditioner, :func:`~course_lib.flows.coupling.mlp`, starts at zero, which
    makes the layer start at the identity.

    Args:
        features: Number of features.
        mask: Shape ``(features,)``, true for the conditioning features :math:`A`, as for
            :class:`~course_lib.flows.coupling.AffineCoupling`.
        bins: Number :math:`K` of bins.
        bound: :math:`B > 0`; the identity outside :math:`[-B, B]`.
        hidden_features: Width of the default conditioner's hidden layers.
        hidden_layers: Number of hidden layers of the default conditioner.
        conditioner: A factory ``(features_in, features_out) -> nn.Module`` used instead of
            ``mlp``, called with :math:`|A|` and :math:`(3K - 1)|B|`; the module's output is
            parameter-major: all raw widths (:math:`K |B|`, bin by bin), then the heights,
            then the inner derivatives.

    Example:
        >>> layer = SplineCoupling(3, torch.tensor([True, False, False]), hidden_features=8)
        >>> x, log_det = layer(torch.randn(5, 3))
        >>> tuple(x.shape), tuple(log_det.shape)
        ((5, 3), (5,))

    References:
        Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
        Flows. NeurIPS. https://arxiv.org/abs/1906.04032
    """

    def __init__(
        self,
        features: int,
        mask: Tensor,
        *,
        bins: int = 8,
        bound: float = 3.0,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        conditioner: Callable[[int, int], nn.Module] | None = None,
    ):
        bins = _check_bins(bins)
        super().__init__(
            features,
            mask,
            3 * bins - 1,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
            conditioner=conditioner,
        )
        self.bins = bins
        self.bound = check_positive_float("bound", bound)

    def _transformer(self, z_b: Tensor, output: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        return _spline_transformer(z_b, output, inverse, bins=self.bins, bound=self.bound)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bins={self.bins}, bound={self.bound:g}"


class SplineAutoregressive(_Autoregressive):
    r"""An autoregressive layer with rational-quadratic splines, their parameters set by a
    :class:`~course_lib.flows.autoregressive.MADE`.

    .. math:: x_i = \mathrm{RQS}\big(z_i;\, \theta_i(x_{<i})\big) \quad \text{(MAF
              direction)} \qquad\text{or}\qquad
              x_i = \mathrm{RQS}\big(z_i;\, \theta_i(z_{<i})\big) \quad \text{(IAF)}.

    In the MAF direction (the default) the density is parallel (one network pass) and
    sampling sequential (``features`` passes); with ``inverse_autoregressive=True`` the
    reverse, as for :class:`~course_lib.flows.autoregressive.IAF`. Starts at the identity.

    Args:
        features: Number of features.
        bins: Number :math:`K` of bins.
        bound: :math:`B > 0`; the identity outside :math:`[-B, B]`.
        hidden_features: Width of the MADE's hidden layers.
        hidden_layers: Number of hidden layers of the MADE.
        context_features: Size of the context (0 for none); see
            :meth:`~course_lib.flows.autoregressive.MAF.condition`.
        inverse_autoregressive: Whether the network reads :math:`z` (IAF) rather than
            :math:`x` (MAF).

    Example:
        >>> layer = SplineAutoregressive(3, bins=4, hidden_features=8)
        >>> x = torch.randn(5, 3)
        >>> z, log_det = layer.inverse(x)  # one network pass
        >>> tuple(z.shape), tuple(log_det.shape)
        ((5, 3), (5,))

    References:
        Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
        Flows. NeurIPS. https://arxiv.org/abs/1906.04032
    """

    def __init__(
        self,
        features: int,
        *,
        bins: int = 8,
        bound: float = 3.0,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        context_features: int = 0,
        inverse_autoregressive: bool = False,
    ):
        bins = _check_bins(bins)
        super().__init__(
            features,
            3 * bins - 1,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
            context_features=context_features,
        )
        self.bins = bins
        self.bound = check_positive_float("bound", bound)
        self.inverse_autoregressive = bool(inverse_autoregressive)

    def _transformer(self, inputs: Tensor, output: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        return _spline_transformer(inputs, output, inverse, bins=self.bins, bound=self.bound)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, bins={self.bins}, bound={self.bound:g}, "
            f"inverse_autoregressive={self.inverse_autoregressive}"
        )


def neural_spline_flow(
    features: int,
    *,
    layers: int = 4,
    bins: int = 8,
    bound: float = 3.0,
    hidden_features: int = 64,
    hidden_layers: int = 2,
    kind: str = "coupling",
    context_features: int = 0,
    seed: int | torch.Generator | None = None,
) -> Flow | ConditionalFlow:
    r"""A neural spline flow: rational-quadratic spline layers on a standard normal base.

    * ``kind="coupling"``: :class:`SplineCoupling` layers whose masks alternate between
      the first ``features // 2`` features and the others; both directions cost one
      network pass per layer. Needs ``features >= 2`` and no context.
    * ``kind="autoregressive"``: :class:`SplineAutoregressive` layers (MAF direction)
      with the feature order reversed between them; ``log_prob`` costs one pass per
      layer, ``sample`` ``features`` passes. May be conditional.

    The flow starts as the standard normal.

    Args:
        features: Number of features.
        layers: Number of spline layers.
        bins: Number of bins of each spline.
        bound: :math:`B`; each spline is the identity outside :math:`[-B, B]`.
        hidden_features: Width of each network's hidden layers.
        hidden_layers: Number of hidden layers of each network.
        kind: ``"coupling"`` or ``"autoregressive"``.
        context_features: Size of the context; with more than 0 (autoregressive only) the
            result is a :class:`~course_lib.flows.autoregressive.ConditionalFlow`.
        seed: Seed or CPU generator for the initial weights.

    Returns:
        A :class:`~course_lib.flows.base.Flow`, or a ``ConditionalFlow``.

    Example:
        >>> flow = neural_spline_flow(2, layers=2, hidden_features=16, seed=0)
        >>> round(flow.log_prob(torch.zeros(2)).item(), 4)
        -1.8379

    References:
        Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
        Flows. NeurIPS. https://arxiv.org/abs/1906.04032
    """
    features = check_positive_int("features", features)
    layers = check_positive_int("layers", layers)
    kind = check_choice("kind", kind, ("coupling", "autoregressive"))
    options = {
        "bins": bins,
        "bound": bound,
        "hidden_features": hidden_features,
        "hidden_layers": hidden_layers,
    }
    if kind == "coupling" and features < 2:
        raise ValueError(
            f"features must be at least 2 for a coupling flow; got {features}. Use "
            'kind="autoregressive" or RQSpline in one dimension.'
        )
    if kind == "coupling" and context_features:
        raise ValueError(
            f"context_features must be 0 for kind='coupling'; got {context_features}. A "
            'conditional spline flow is kind="autoregressive".'
        )
    first_half = torch.arange(features) < features // 2
    transforms: list[Transform] = []
    with seeded_init(check_seed(seed)):
        for k in range(layers):
            if kind == "coupling":
                mask = ~first_half if k % 2 else first_half
                transforms.append(SplineCoupling(features, mask, **options))
                continue
            if k > 0 and features > 1:
                transforms.append(ReversePermutation(features))
            transforms.append(
                SplineAutoregressive(features, context_features=context_features, **options)
            )
    if context_features:
        return ConditionalFlow(standard_normal(features), transforms)
    return Flow(standard_normal(features), transforms)
