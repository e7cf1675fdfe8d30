r"""Continuous normalizing flows: invertible maps given by an ODE, solved with torchdiffeq.

A continuous normalizing flow (CNF) moves a base point :math:`z(0) = z` along
:math:`\mathrm{d}z/\mathrm{d}t = f(z(t), t)` up to time :math:`T` and returns
:math:`x = z(T)`. The map is invertible (integrate back from :math:`T` to 0)
whenever :math:`f` is Lipschitz in :math:`z`, whatever :math:`f` is, and the
instantaneous change of variables (Chen et al., 2018, Theorem 1) gives its
log-determinant as an integral of a trace,

.. math:: \frac{\mathrm{d}}{\mathrm{d}t} \log p\big(z(t)\big)
          = -\operatorname{tr} \frac{\partial f}{\partial z}\big(z(t), t\big),
          \qquad
          \log\left|\det \frac{\partial x}{\partial z}\right|
          = \int_0^T \operatorname{tr} \frac{\partial f}{\partial z}\big(z(t), t\big)\,\mathrm{d}t.

The solver integrates the augmented state :math:`(z, \ell)` with
:math:`\mathrm{d}\ell/\mathrm{d}t = \operatorname{tr}(\partial f/\partial z)`, so
:math:`\ell(T) - \ell(0)` is the forward log-det of the convention in
:mod:`course_lib.flows.base`; the same ODE run from :math:`T` to 0 gives the inverse
and its log-det. The trace is exact (one backward pass per feature, cheap in 2-D)
or Hutchinson's unbiased estimate :math:`\varepsilon^\top (\partial f/\partial z)\,
\varepsilon` with one probe :math:`\varepsilon` per point, fixed for a whole solve
(Grathwohl et al., 2019). The course's dynamics also carry their Jacobian forward with
:math:`f` itself (``trace="forward"``): the same exact trace without any backward pass.

References:
    Chen, R. T. Q., Rubanova, Y., Bettencourt, J. & Duvenaud, D. (2018). Neural
    Ordinary Differential Equations. NeurIPS. https://arxiv.org/abs/1806.07366

    Grathwohl, W., Chen, R. T. Q., Bettencourt, J., Sutskever, I. & Duvenaud, D.
    (2019). FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative
    Models. ICLR. https://arxiv.org/abs/1810.01367
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution
from torchdiffeq import odeint, odeint_adjoint

from course_lib._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
    format_shape,
    seeded_init,
)
from course_lib.flows.base import Flow, Transform, _check_sample_shape, standard_normal

__all__ = [
    "CNF",
    "ConcatLinear",
    "ConcatSquashLinear",
    "ContinuousTransform",
    "HyperPlanarDynamics",
    "TimeMLP",
    "cnf",
    "exact_trace",
    "hutchinson_trace",
]

ADAPTIVE_METHODS = ("dopri5", "bosh3", "adaptive_heun")
FIXED_METHODS = ("rk4", "midpoint", "euler")
_PROBES = ("rademacher", "gaussian")


def exact_trace(dz: Tensor, z: Tensor, *, create_graph: bool = True) -> Tensor:
    r"""The trace of the Jacobian :math:`\operatorname{tr}(\partial f / \partial z)`, exactly.

    One backward pass per feature: :math:`\sum_i \partial f_i / \partial z_i`.
    Rows of the batch must not interact (each output row depends on its own input row only).

    Args:
        dz: The dynamics :math:`f(z, t)`, shape ``(batch, features)``, computed from ``z``.
        z: The points, shape ``(batch, features)``, with ``requires_grad``.
        create_graph: Whether the trace itself should be differentiable (for training).

    Returns:
        The traces, shape ``(batch,)``; zeros if ``dz`` does not depend on ``z``.

    Example:
        >>> z = torch.randn(4, 2, requires_grad=True)
        >>> exact_trace(3.0 * z, z).tolist()
        [6.0, 6.0, 6.0, 6.0]
    """
    trace = z.new_zeros(z.shape[:-1])
    if not dz.requires_grad:
        return trace
    for i in range(z.shape[-1]):
        (row,) = torch.autograd.grad(
            dz[..., i].sum(), z, retain_graph=True, create_graph=create_graph, allow_unused=True
        )
        if row is not None:
            trace = trace + row[..., i]
    return trace


def hutchinson_trace(dz: Tensor, z: Tensor, probe: Tensor, *, create_graph: bool = True) -> Tensor:
    r"""Hutchinson's estimate :math:`\varepsilon^\top (\partial f / \partial z)\, \varepsilon`
    of the Jacobian's trace, unbiased when :math:`\mathbb{E}[\varepsilon \varepsilon^\top] = I`.

    One vector-Jacobian product, whatever the number of features.

    Args:
        dz: The dynamics :math:`f(z, t)`, shape ``(batch, features)``, computed from ``z``.
        z: The points, shape ``(batch, features)``, with ``requires_grad``.
        probe: The probes :math:`\varepsilon`, shape ``(batch, features)``, e.g.
            Rademacher (random signs) or standard normal.
        create_graph: Whether the estimate itself should be differentiable.

    Returns:
        The estimates, shape ``(batch,)``.

    Example:
        >>> z = torch.randn(4, 2, requires_grad=True)
        >>> hutchinson_trace(3.0 * z, z, torch.ones(4, 2)).tolist()
        [6.0, 6.0, 6.0, 6.0]
    """
    if not dz.requires_grad:
        return z.new_zeros(z.shape[:-1])
    (vjp,) = torch.autograd.grad(dz, z, probe, create_graph=create_graph, allow_unused=True)
    if vjp is None:
        return z.new_zeros(z.shape[:-1])
    return (vjp * probe).sum(-1)


def _time_column(t: Tensor, z: Tensor) -> Tensor:
    """The time as a column ``(batch, 1)`` beside ``z``, in ``z``'s dtype and device."""
    return t.to(z).reshape(1, 1).expand(z.shape[0], 1)


class ConcatLinear(nn.Module):
    r"""A linear layer that also sees the time: :math:`h \mapsto W [h, t] + b`.

    Args:
        features_in: Size of the input ``h``.
        features_out: Size of the output.
    """

    def __init__(self, features_in: int, features_out: int):
        super().__init__()
        self.linear = nn.Linear(features_in + 1, features_out)

    def forward(self, t: Tensor, h: Tensor) -> Tensor:
        """Maps ``h`` of shape ``(batch, features_in)`` at scalar time ``t`` to
        ``(batch, features_out)``."""
        return self.linear(torch.cat([h, _time_column(t, h)], dim=-1))

    def input_weight(self, t: Tensor) -> Tensor:
        """The Jacobian of the output with respect to ``h`` at time ``t``,
        ``(features_out, features_in)``."""
        return self.linear.weight[:, :-1]


class ConcatSquashLinear(nn.Module):
    r"""A linear layer gated and shifted by the time (FFJORD's concat-squash layer):

    .. math:: h \mapsto (W h + b)\, \sigma(a t + c) + d\, t,

    with :math:`\sigma` the logistic function, applied element-wise.

    Args:
        features_in: Size of the input ``h``.
        features_out: Size of the output.
    """

    def __init__(self, features_in: int, features_out: int):
        super().__init__()
        self.linear = nn.Linear(features_in, features_out)
        self.gate = nn.Linear(1, features_out)
        self.shift = nn.Linear(1, features_out, bias=False)

    def forward(self, t: Tensor, h: Tensor) -> Tensor:
        """Maps ``h`` of shape ``(batch, features_in)`` at scalar time ``t`` to
        ``(batch, features_out)``."""
        time = t.to(h).reshape(1, 1)
        return self.linear(h) * torch.sigmoid(self.gate(time)) + self.shift(time)

    def input_weight(self, t: Tensor) -> Tensor:
        """The Jacobian of the output with respect to ``h`` at time ``t``,
        ``(features_out, features_in)``."""
        gate = torch.sigmoid(self.gate(t.to(self.linear.weight).reshape(1, 1)))
        return self.linear.weight * gate.reshape(-1, 1)


_ACTIVATIONS = {"tanh": nn.Tanh, "softplus": nn.Softplus}


def _activate(name: str, h: Tensor) -> tuple[Tensor, Tensor]:
    """The activation ``name`` of ``h`` and its derivative, element-wise."""
    if name == "tanh":
        value = torch.tanh(h)
        return value, 1 - value * value
    return nn.functional.softplus(h), torch.sigmoid(h)


class TimeMLP(nn.Module):
    r"""Dynamics :math:`f(z, t)`: a multilayer perceptron whose every layer sees the time.

    Smooth activations keep :math:`f` smooth, which adaptive solvers need to take
    long steps. The last layer starts at zero, so the flow starts at the identity.

    Args:
        features: Size of ``z``.
        hidden_features: Width of the hidden layers.
        hidden_layers: Number of hidden layers (0 for a time-dependent affine map).
        layer: ``"concat"`` (:class:`ConcatLinear`) or ``"squash"`` (:class:`ConcatSquashLinear`).
        activation: ``"tanh"`` or ``"softplus"``.

    Example:
        >>> f = TimeMLP(2, hidden_features=8)
        >>> f(torch.tensor(0.5), torch.randn(3, 2)).shape
        torch.Size([3, 2])
    """

    def __init__(
        self,
        features: int,
        *,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        layer: str = "concat",
        activation: str = "tanh",
    ):
        super().__init__()
        self.features = check_positive_int("features", features)
        hidden_features = check_positive_int("hidden_features", hidden_features)
        hidden_layers = check_nonnegative_int("hidden_layers", hidden_layers)
        kind = {"concat": ConcatLinear, "squash": ConcatSquashLinear}[
            check_choice("layer", layer, ("concat", "squash"))
        ]
        self.activation_name = check_choice("activation", activation, tuple(_ACTIVATIONS))
        self.activation = _ACTIVATIONS[self.activation_name]()
        sizes = [features] + [hidden_features] * hidden_layers + [features]
        self.layers = nn.ModuleList(kind(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        last = self.layers[-1].linear
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        """The velocity at points ``z`` of shape ``(batch, features)`` and scalar time ``t``;
        shape ``(batch, features)``."""
        h = z
        for k, layer in enumerate(self.layers):
            h = layer(t, h)
            if k < len(self.layers) - 1:
                h = self.activation(h)
        return h

    def velocity_and_trace(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        r"""The velocity and the exact trace of :math:`\partial f / \partial z`, with no
        backward pass: for two hidden layers in closed form, else by carrying the Jacobian
        forward layer by layer beside :math:`f` (``features`` extra columns per layer).

        Args:
            t: Scalar time.
            z: Points, shape ``(batch, features)``.

        Returns:
            ``(f(z, t), trace)`` of shapes ``(batch, features)`` and ``(batch,)``.
        """
        if len(self.layers) == 3:
            return self._two_hidden_layers(t, z)
        h = z
        # jacobian[i] = dh/dz_i, shape (features, batch or 1, width): one column per feature.
        jacobian: Tensor | None = None
        for k, layer in enumerate(self.layers):
            weight = layer.input_weight(t).T
            jacobian = weight.unsqueeze(1) if jacobian is None else jacobian @ weight
            h = layer(t, h)
            if k < len(self.layers) - 1:
                h, slope = _activate(self.activation_name, h)
                jacobian = jacobian * slope
        trace = torch.diagonal(jacobian, dim1=0, dim2=2).sum(-1)
        return h, trace.expand(z.shape[0])

    def _two_hidden_layers(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        r"""Two hidden layers: :math:`\operatorname{tr}(W_3 D_2 W_2 D_1 W_1)
        = \sum_{kj} (D_2)_k (D_1)_j\, [W_2 \circ (W_1 W_3)^\top]_{kj}`, one product
        ``(batch, width) @ (width, width)`` beside :math:`f`."""
        first, middle, last = self.layers
        h, slope_1 = _activate(self.activation_name, first(t, z))
        h, slope_2 = _activate(self.activation_name, middle(t, h))
        weights = middle.input_weight(t) * (first.input_weight(t) @ last.input_weight(t)).T
        return last(t, h), ((slope_1 @ weights.T) * slope_2).sum(-1)


class HyperPlanarDynamics(nn.Module):
    r"""Dynamics of the planar CNF of Chen et al. (2018), with weights that depend on time:

    .. math:: f(z, t) = \sum_{m=1}^{M} u_m(t) \tanh\big(w_m(t)^\top z + b_m(t)\big),

    where a small network of :math:`t` alone (a hypernetwork) outputs
    :math:`u_m, w_m \in \mathbb{R}^{features}` and :math:`b_m \in \mathbb{R}`.
    Its trace is :math:`\sum_m (1 - \tanh^2(\cdot))\, u_m^\top w_m`. The :math:`u_m`
    start at zero, so the flow starts at the identity.

    Args:
        features: Size of ``z``.
        width: Number :math:`M` of planar units.
        hidden_features: Width of the hypernetwork's two hidden layers.

    Example:
        >>> f = HyperPlanarDynamics(2, width=4, hidden_features=8)
        >>> f(torch.tensor(0.5), torch.randn(3, 2)).shape
        torch.Size([3, 2])
    """

    def __init__(self, features: int, *, width: int = 64, hidden_features: int = 32):
        super().__init__()
        self.features = check_positive_int("features", features)
        self.width = check_positive_int("width", width)
        hidden_features = check_positive_int("hidden_features", hidden_features)
        self.hypernetwork = nn.Sequential(
            nn.Linear(1, hidden_features),
            nn.Tanh(),
            nn.Linear(hidden_features, hidden_features),
            nn.Tanh(),
            nn.Linear(hidden_features, (2 * features + 1) * width),
        )
        last = self.hypernetwork[-1]
        with torch.no_grad():
            # Rows of the output that give u: zero, so f = 0 at first while w and b vary.
            last.weight[: features * width].zero_()
            last.bias[: features * width].zero_()

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        """The velocity at points ``z`` of shape ``(batch, features)`` and scalar time ``t``;
        shape ``(batch, features)``."""
        params = self.hypernetwork(t.to(z).reshape(1, 1)).reshape(-1)
        size = self.features * self.width
        u = params[:size].reshape(self.width, self.features)
        w = params[size : 2 * size].reshape(self.width, self.features)
        b = params[2 * size :]
        return torch.tanh(z @ w.T + b) @ u

    def velocity_and_trace(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        r"""The velocity and its exact trace :math:`\sum_m (1 - \tanh^2(\cdot))\,
        u_m^\top w_m`, with no backward pass.

        Args:
            t: Scalar time.
            z: Points, shape ``(batch, features)``.

        Returns:
            ``(f(z, t), trace)`` of shapes ``(batch, features)`` and ``(batch,)``.
        """
        params = self.hypernetwork(t.to(z).reshape(1, 1)).reshape(-1)
        size = self.features * self.width
        u = params[:size].reshape(self.width, self.features)
        w = params[size : 2 * size].reshape(self.width, self.features)
        b = params[2 * size :]
        units = torch.tanh(z @ w.T + b)
        return units @ u, (1 - units * units) @ (u * w).sum(-1)


class _Augmented(nn.Module):
    """The right-hand side of the augmented ODE ``(z, log_det)``; counts its evaluations."""

    def __init__(self, dynamics: nn.Module, trace: str):
        super().__init__()
        self.dynamics = dynamics
        self.trace = trace
        self.probe: Tensor | None = None
        self.nfe = 0

    def forward(self, t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        self.nfe += 1
        z = state[0]
        # Differentiable trace when gradients are wanted: in training, and inside the
        # adjoint's backward solve; a sample under no_grad needs no graph.
        create_graph = torch.is_grad_enabled()
        if self.trace == "forward":
            dz, trace = self.dynamics.velocity_and_trace(t, z)
            self._check_shape(dz, z)
            return dz, trace
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            dz = self.dynamics(t, z)
            self._check_shape(dz, z)
            if self.trace == "exact":
                trace = exact_trace(dz, z, create_graph=create_graph)
            else:
                trace = hutchinson_trace(dz, z, self.probe, create_graph=create_graph)
        if not create_graph:
            dz, trace = dz.detach(), trace.detach()
        return dz, trace

    @staticmethod
    def _check_shape(dz: object, z: Tensor) -> None:
        if not isinstance(dz, Tensor) or dz.shape != z.shape:
            raise ValueError(
                f"dynamics(t, z) must return a tensor of the shape of z, "
                f"{format_shape(z.shape)}; got {describe(dz)}."
            )


class ContinuousTransform(Transform):
    r"""The flow map :math:`x = z(T)` of :math:`\mathrm{d}z/\mathrm{d}t = f(z(t), t)`,
    :math:`z(0) = z`, with its log-determinant from the trace of :math:`\partial f/\partial z`
    (see :mod:`course_lib.flows.continuous`).

    Invertible when :math:`f` is Lipschitz in :math:`z`; the inverse integrates
    from :math:`T` back to 0, so both directions cost one ODE solve, and a round
    trip returns the input up to the solver's error. Log-dets follow the
    convention of :mod:`course_lib.flows.base`.

    A fixed-step solve is only as good as its grid: trained by maximum likelihood on
    a coarse grid, the dynamics can learn to exploit the grid's error, and the
    "density" then no longer integrates to 1 (on two moons, 4 rk4 steps gave a test
    NLL 0.9 nats below the entropy, and 1.3 nats above it when the same model was
    solved with dopri5). Score a model trained on a fixed grid with an adaptive solve
    (set the attributes ``method``, ``rtol`` and ``atol``).

    Args:
        features: Size of ``z``.
        dynamics: Module called as ``dynamics(t, z)`` with a scalar tensor ``t`` and
            ``z`` of shape ``(batch, features)``, returning ``(batch, features)``; rows
            must not interact. E.g. :class:`TimeMLP` or :class:`HyperPlanarDynamics`.
        time: The integration time :math:`T`.
        trace: ``"exact"`` (one backward pass per feature), ``"hutchinson"`` (one
            vector-Jacobian product, an unbiased estimate) or ``"forward"`` (exact too,
            carried forward beside :math:`f` by the dynamics' ``velocity_and_trace(t, z)``,
            which :class:`TimeMLP` and :class:`HyperPlanarDynamics` have: no backward pass,
            the cheapest in few dimensions).
        probe: Distribution of Hutchinson's probes: ``"rademacher"`` or ``"gaussian"``;
            drawn from torch's global generator, one per point and solve.
        method: Adaptive ``"dopri5"``, ``"bosh3"``, ``"adaptive_heun"`` (with ``rtol``,
            ``atol``) or fixed-step ``"rk4"``, ``"midpoint"``, ``"euler"`` (with ``step_size``).
        rtol: Relative tolerance of adaptive methods.
        atol: Absolute tolerance of adaptive methods.
        step_size: Step of fixed-step methods; ``time / 10`` when ``None``.
        adjoint: Whether gradients come from the adjoint ODE (memory constant in the
            number of steps, one more solve backwards) instead of backpropagation
            through the solver's operations.

    Attributes:
        nfe: Evaluations of the dynamics since the last :meth:`reset_nfe`, in forward
            solves and in the adjoint's backward solves alike.

    Example:
        >>> f = ContinuousTransform(2, TimeMLP(2, hidden_features=8), method="rk4")
        >>> x, log_det = f(torch.randn(5, 2))
        >>> tuple(x.shape), tuple(log_det.shape), f.nfe  # 10 steps of 4 evaluations
        ((5, 2), (5,), 40)
    """

    def __init__(
        self,
        features: int,
        dynamics: nn.Module,
        *,
        time: float = 1.0,
        trace: str = "exact",
        probe: str = "rademacher",
        method: str = "dopri5",
        rtol: float = 1e-5,
        atol: float = 1e-5,
        step_size: float | None = None,
        adjoint: bool = False,
    ):
        super().__init__(features)
        if not isinstance(dynamics, nn.Module):
            raise TypeError(
                f"dynamics must be an nn.Module called as dynamics(t, z); got "
                f"{describe(dynamics)}. Use e.g. TimeMLP(features)."
            )
        if getattr(dynamics, "features", self.features) != self.features:
            raise ValueError(
                f"dynamics must act on {self.features} features; got dynamics with "
                f"features={dynamics.features}."
            )
        self.time = check_positive_float("time", time)
        self.trace = check_choice("trace", trace, ("exact", "hutchinson", "forward"))
        if self.trace == "forward" and not callable(getattr(dynamics, "velocity_and_trace", None)):
            raise TypeError(
                f"trace='forward' needs dynamics with a method velocity_and_trace(t, z), as "
                f"TimeMLP and HyperPlanarDynamics have; got {type(dynamics).__name__}. Use "
                "trace='exact'."
            )
        self.probe = check_choice("probe", probe, _PROBES)
        self.method = check_choice("method", method, ADAPTIVE_METHODS + FIXED_METHODS)
        self.rtol = check_positive_float("rtol", rtol)
        self.atol = check_positive_float("atol", atol)
        if step_size is not None and self.method in ADAPTIVE_METHODS:
            raise ValueError(
                f"step_size is for the fixed-step methods {FIXED_METHODS}; the adaptive "
                f"method {self.method!r} chooses its steps from rtol and atol. Drop step_size "
                "or use method='rk4'."
            )
        self.step_size = (
            self.time / 10 if step_size is None else check_positive_float("step_size", step_size)
        )
        if not isinstance(adjoint, bool):
            raise TypeError(f"adjoint must be True or False; got {describe(adjoint)}.")
        self.adjoint = adjoint
        self.ode = _Augmented(dynamics, self.trace)

    @property
    def dynamics(self) -> nn.Module:
        """The dynamics :math:`f(z, t)`."""
        return self.ode.dynamics

    @property
    def nfe(self) -> int:
        """Evaluations of the dynamics since the last :meth:`reset_nfe`."""
        return self.ode.nfe

    def reset_nfe(self) -> None:
        """Sets the count of function evaluations back to zero."""
        self.ode.nfe = 0

    def _solve(self, start: Tensor, times: Tensor) -> tuple[Tensor, Tensor]:
        """Integrates ``(start, 0)`` over ``times``; ``(points, log_det)`` at every time, shapes
        ``(len(times), *batch, features)`` and ``(len(times), *batch)``."""
        batch = start.shape[:-1]
        z = start.reshape(-1, self.features)
        if self.trace == "hutchinson":
            if self.probe == "gaussian":
                self.ode.probe = torch.randn_like(z)
            else:
                self.ode.probe = torch.randint_like(z, 2) * 2 - 1
        state = (z, z.new_zeros(z.shape[0]))
        options = {"step_size": self.step_size} if self.method in FIXED_METHODS else None
        kwargs = {"rtol": self.rtol, "atol": self.atol, "method": self.method, "options": options}
        if self.adjoint and torch.is_grad_enabled():
            params = tuple(p for p in self.dynamics.parameters() if p.requires_grad)
            zs, log_dets = odeint_adjoint(self.ode, state, times, adjoint_params=params, **kwargs)
        else:
            zs, log_dets = odeint(self.ode, state, times, **kwargs)
        if not (torch.isfinite(zs).all() and torch.isfinite(log_dets).all()):
            raise RuntimeError(
                "the ODE solve gave non-finite values: the dynamics blew up. Lower the "
                "learning rate, tighten rtol/atol, or shorten step_size."
            )
        steps = times.shape[0]
        return zs.reshape(steps, *batch, self.features), log_dets.reshape(steps, *batch)

    def _times(self, like: Tensor, *points: float) -> Tensor:
        return torch.tensor(points, dtype=like.dtype, device=like.device)

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        xs, log_dets = self._solve(z, self._times(z, 0.0, self.time))
        return xs[-1], log_dets[-1]

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        zs, log_dets = self._solve(x, self._times(x, self.time, 0.0))
        return zs[-1], log_dets[-1]

    def trajectory(self, z: Tensor, times: Tensor) -> tuple[Tensor, Tensor]:
        r"""The path :math:`z(t)` from ``z`` at the given times, and the forward log-det
        :math:`\log|\det \partial z(t) / \partial z|` of the map from 0 to each time.

        Args:
            z: Base points, shape ``(*batch, features)``.
            times: Increasing times in :math:`[0, T]`, shape ``(steps,)``.

        Returns:
            ``(path, log_det)`` of shapes ``(steps, *batch, features)`` and ``(steps, *batch)``.

        Raises:
            ValueError: If ``times`` is not 1-D, increasing, within ``[0, time]``.
        """
        z = self._check("z", z)
        times = check_tensor("times", times, ndim=1)
        times = times.to(dtype=z.dtype, device=z.device)
        inside = bool(((times >= 0) & (times <= self.time)).all())
        if times.numel() == 0 or not inside or not bool((times.diff() > 0).all()):
            raise ValueError(
                f"times must be a non-empty, strictly increasing 1-D tensor within [0, "
                f"{self.time}]; got {times.tolist()}. Use e.g. torch.linspace(0, {self.time}, 20)."
            )
        start = times[0] > 0
        if start:
            times = torch.cat([times.new_zeros(1), times])
        path, log_det = self._solve(z, times)
        return (path[1:], log_det[1:]) if start else (path, log_det)

    def extra_repr(self) -> str:
        solver = (
            f"rtol={self.rtol}, atol={self.atol}"
            if self.method in ADAPTIVE_METHODS
            else f"step_size={self.step_size}"
        )
        return (
            f"features={self.features}, time={self.time}, trace={self.trace!r}, "
            f"method={self.method!r}, {solver}, adjoint={self.adjoint}"
        )


class CNF(Flow):
    r"""A continuous normalizing flow: the distribution of :math:`x = z(T)`,
    :math:`z(0) \sim p_Z`, for the ODE of a :class:`ContinuousTransform`.

    A :class:`~course_lib.flows.base.Flow` with one transform, so ``log_prob``,
    ``sample``, ``rsample`` and :func:`course_lib.training.fit` work as for any flow,
    plus :meth:`sample_trajectory` for pictures of the path from base to data.

    Args:
        base: The base distribution, e.g. :func:`~course_lib.flows.base.standard_normal`.
        dynamics: The dynamics :math:`f(z, t)`, as for :class:`ContinuousTransform`.
        **options: Keyword options of :class:`ContinuousTransform` (``time``, ``trace``,
            ``probe``, ``method``, ``rtol``, ``atol``, ``step_size``, ``adjoint``).

    Attributes:
        ode: The :class:`ContinuousTransform`.
    """

    def __init__(self, base: Distribution, dynamics: nn.Module, **options):
        if not isinstance(base, Distribution) or len(base.event_shape) != 1:
            # Flow's own check gives the full message.
            super().__init__(base, [])
        super().__init__(base, [ContinuousTransform(base.event_shape[0], dynamics, **options)])

    @property
    def ode(self) -> ContinuousTransform:
        """The flow's :class:`ContinuousTransform`."""
        return self.transform[0]

    @property
    def nfe(self) -> int:
        """Evaluations of the dynamics since the last :meth:`reset_nfe`."""
        return self.ode.nfe

    def reset_nfe(self) -> None:
        """Sets the count of function evaluations back to zero."""
        self.ode.reset_nfe()

    def sample_trajectory(
        self, sample_shape: torch.Size | tuple[int, ...], times: Tensor
    ) -> Tensor:
        """Samples with their paths from the base (time 0) to the data (time ``T``),
        without gradients.

        Args:
            sample_shape: Leading shape of the samples.
            times: Increasing times in ``[0, T]``, shape ``(steps,)``.

        Returns:
            The points at each time, shape ``(steps, *sample_shape, features)``.
        """
        with torch.no_grad():
            z = self.base.sample(_check_sample_shape(sample_shape))
            return self.ode.trajectory(z, times)[0]


def cnf(
    features: int,
    *,
    dynamics: str = "concat",
    hidden_features: int = 64,
    hidden_layers: int = 2,
    width: int = 64,
    seed: int | torch.Generator | None = None,
    **options,
) -> CNF:
    r"""A continuous normalizing flow on a standard normal base.

    Args:
        features: Number of features.
        dynamics: ``"concat"`` (:class:`TimeMLP` of :class:`ConcatLinear` layers),
            ``"squash"`` (:class:`TimeMLP` of :class:`ConcatSquashLinear` layers) or
            ``"hyper"`` (:class:`HyperPlanarDynamics`).
        hidden_features: Width of the hidden layers (of the hypernetwork for ``"hyper"``).
        hidden_layers: Number of hidden layers of a :class:`TimeMLP`.
        width: Number of planar units of :class:`HyperPlanarDynamics`.
        seed: Seed or CPU generator for the initial weights.
        **options: Solver options of :class:`ContinuousTransform`.

    Returns:
        A :class:`CNF`; it starts as the standard normal (the dynamics start at zero).

    Example:
        >>> flow = cnf(2, hidden_features=16, method="rk4", seed=0)
        >>> x = flow.sample((10,))
        >>> tuple(x.shape), round(flow.log_prob(torch.zeros(2)).item(), 4)
        ((10, 2), -1.8379)
    """
    features = check_positive_int("features", features)
    kind = check_choice("dynamics", dynamics, ("concat", "squash", "hyper"))
    with seeded_init(check_seed(seed)):
        if kind == "hyper":
            f = HyperPlanarDynamics(features, width=width, hidden_features=hidden_features)
        else:
            f = TimeMLP(
                features,
                hidden_features=hidden_features,
                hidden_layers=hidden_layers,
                layer=kind,
            )
    return CNF(standard_normal(features), f, **options)
