r"""Reference cases for the assignment on continuous normalizing flows.

The test cells of ``solutions/cnf`` compare a student's divergence, augmented dynamics and
log-density with the functions here, on dynamics with fixed random weights. The references
are independent of the code a student writes: the divergence is the trace of the full
Jacobian from :func:`torch.autograd.functional.jacobian`, the log-density comes from
:class:`course_lib.flows.ContinuousTransform`, and for linear dynamics
:math:`f(z, t) = A z + t b` the flow map and the density are known in closed form.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib._validation import check_positive_float, check_seed, check_tensor
from course_lib.datasets import two_moons
from course_lib.flows.continuous import ContinuousTransform, HyperPlanarDynamics, TimeMLP

__all__ = [
    "LinearDynamics",
    "augmented_reference",
    "divergence_cases",
    "jacobian_trace",
    "linear_log_prob",
    "log_prob_cases",
    "log_prob_reference",
    "random_dynamics",
    "training_data",
]

_KINDS = ("linear", "hyper", "mlp")
# (kind, features, batch, dtype) of the cases: each kind of dynamics, 2-D mostly, one 3-D,
# a single point, both floating dtypes.
_DIVERGENCE_SHAPES = (
    ("linear", 2, 5, torch.float64),
    ("hyper", 2, 7, torch.float32),
    ("mlp", 2, 16, torch.float64),
    ("mlp", 3, 4, torch.float32),
    ("hyper", 2, 1, torch.float64),
)
# (kind, features, batch, dtype, time, step_size) of the log-density cases.
_LOG_PROB_SHAPES = (
    ("linear", 2, 6, torch.float64, 1.0, 0.25),
    ("mlp", 2, 9, torch.float64, 1.0, 0.25),
    ("hyper", 2, 5, torch.float32, 0.5, 0.125),
    ("mlp", 3, 4, torch.float32, 1.0, 0.5),
)


class LinearDynamics(nn.Module):
    r"""Linear dynamics :math:`f(z, t) = A z + t\, b`; their divergence is
    :math:`\operatorname{tr} A`.

    Args:
        matrix: :math:`A`, shape ``(features, features)``.
        shift: :math:`b`, shape ``(features,)``; zeros when ``None``.
    """

    def __init__(self, matrix: Tensor, shift: Tensor | None = None):
        super().__init__()
        matrix = check_tensor("matrix", matrix, ndim=2, floating=True)
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square; got shape {tuple(matrix.shape)}.")
        self.features = matrix.shape[0]
        shift = torch.zeros_like(matrix[0]) if shift is None else shift
        shift = check_tensor("shift", shift, shape=(self.features,), floating=True)
        self.matrix = nn.Parameter(matrix.clone())
        self.shift = nn.Parameter(shift.clone().to(matrix))

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        """The velocity at ``z`` of shape ``(batch, features)``; shape ``(batch, features)``."""
        return z @ self.matrix.T + t.to(z) * self.shift


def random_dynamics(
    kind: str, features: int, *, seed: int | torch.Generator = 0, dtype=torch.float64
) -> nn.Module:
    """Dynamics ``f(t, z)`` with random weights, drawn from ``seed``'s CPU generator.

    Args:
        kind: ``"linear"`` (:class:`LinearDynamics`), ``"hyper"`` (a small
            :class:`~course_lib.flows.HyperPlanarDynamics`) or ``"mlp"`` (a small
            :class:`~course_lib.flows.TimeMLP`).
        features: Size of ``z``.
        seed: Seed or CPU generator.
        dtype: Floating dtype of the weights.

    Returns:
        The module; weights of scale 0.5, so the flow moves points by about one unit.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}.")
    generator = check_seed(seed)
    if kind == "linear":
        matrix = 0.5 * torch.randn(features, features, generator=generator, dtype=torch.float64)
        shift = 0.5 * torch.randn(features, generator=generator, dtype=torch.float64)
        return LinearDynamics(matrix, shift).to(dtype)
    if kind == "hyper":
        module = HyperPlanarDynamics(features, width=4, hidden_features=8)
    else:
        module = TimeMLP(features, hidden_features=8, hidden_layers=2)
    with torch.no_grad():
        for parameter in module.parameters():
            values = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.copy_(0.5 * values)
    return module.to(dtype)


def divergence_cases(seed: int = 0) -> list[tuple]:
    """Inputs ``(f, t, z)`` for checking a divergence: dynamics, a time, points.

    Example:
        >>> [(type(f).__name__, tuple(z.shape)) for f, t, z in divergence_cases(seed=0)][:2]
        [('LinearDynamics', (5, 2)), ('HyperPlanarDynamics', (7, 2))]
    """
    generator = check_seed(seed)
    cases = []
    for kind, features, batch, dtype in _DIVERGENCE_SHAPES:
        f = random_dynamics(kind, features, seed=generator, dtype=dtype)
        t = torch.rand((), generator=generator, dtype=torch.float64).to(dtype)
        z = torch.randn(batch, features, generator=generator, dtype=torch.float64).to(dtype)
        cases.append((f, t, z))
    return cases


def jacobian_trace(f: nn.Module, t: Tensor, z: Tensor) -> Tensor:
    r"""The trace of :math:`\partial f(z, t) / \partial z` at every row of ``z``, from the full
    Jacobian of each row by :func:`torch.autograd.functional.jacobian`.

    Args:
        f: Dynamics called as ``f(t, z)`` on points of shape ``(batch, features)``.
        t: The time, a scalar tensor.
        z: Points, shape ``(batch, features)``.

    Returns:
        The traces, shape ``(batch,)``, in ``z``'s dtype, without gradients.
    """
    z = check_tensor("z", z, ndim=2, floating=True).detach()
    traces = [
        torch.autograd.functional.jacobian(lambda row: f(t, row[None])[0], row).trace()
        for row in z
    ]
    return torch.stack(traces).detach()


def augmented_reference(f: nn.Module, t: Tensor, state: tuple[Tensor, Tensor]):
    r"""The right-hand side of the augmented ODE
    :math:`\frac{d}{dt}[z, \ell] = [f(z, t), -\operatorname{tr} \partial f / \partial z]`.

    Args:
        f: Dynamics called as ``f(t, z)``.
        t: The time, a scalar tensor.
        state: ``(z, log_p)`` of shapes ``(batch, features)`` and ``(batch,)``; ``log_p``
            is not used (the right-hand side does not depend on it).

    Returns:
        ``(dz, dlog_p)`` of shapes ``(batch, features)`` and ``(batch,)``, without gradients.
    """
    z = state[0].detach()
    with torch.no_grad():
        dz = f(t, z)
    return dz, -jacobian_trace(f, t, z)


def log_prob_reference(
    f: nn.Module,
    x: Tensor,
    time: float = 1.0,
    step_size: float = 0.25,
    *,
    adaptive: bool = False,
) -> Tensor:
    r"""The log-density of a CNF with standard normal base at ``x``, by
    :class:`~course_lib.flows.ContinuousTransform`.

    Args:
        f: Dynamics called as ``f(t, z)``.
        x: Data points, shape ``(batch, features)``.
        time: The integration time :math:`T`.
        step_size: Step of the RK4 grid.
        adaptive: Solve with dopri5 at tolerance 1e-5 instead of the RK4 grid: the density a
            model trained on a grid really has, whatever the grid's error.

    Returns:
        :math:`\log p(x)`, shape ``(batch,)``, without gradients.
    """
    x = check_tensor("x", x, ndim=2, floating=True)
    solver = {"method": "dopri5"} if adaptive else {"method": "rk4", "step_size": step_size}
    ode = ContinuousTransform(x.shape[1], f, time=time, **solver)
    with torch.no_grad():
        z, log_det = ode.inverse(x)
    log_base = -0.5 * (z**2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
    return log_base + log_det


def linear_log_prob(f: LinearDynamics, x: Tensor, time: float = 1.0) -> Tensor:
    r"""The exact log-density of the CNF with linear dynamics :math:`f = Az + tb` and a
    standard normal base: :math:`x = e^{AT} z + c` with
    :math:`c = \int_0^T s\, e^{A(T-s)} b\, ds`, so
    :math:`\log p(x) = \log \mathcal N(e^{-AT}(x - c)) - T \operatorname{tr} A`.

    Args:
        f: The dynamics.
        x: Data points, shape ``(batch, features)``.
        time: The integration time :math:`T`.

    Returns:
        :math:`\log p(x)`, shape ``(batch,)``, computed in float64 and cast to ``x``'s dtype.
    """
    if not isinstance(f, LinearDynamics):
        raise TypeError(f"f must be LinearDynamics; got {type(f).__name__}.")
    time = check_positive_float("time", time)
    x = check_tensor("x", x, ndim=2, floating=True)
    a = f.matrix.detach().double()
    b = f.shift.detach().double()
    d = a.shape[0]
    # c solves dc/dt = A c + t b, c(0) = 0: the last column of the exponential of an
    # augmented matrix acting on (c, t, 1).
    block = torch.zeros(d + 2, d + 2, dtype=torch.float64)
    block[:d, :d] = a
    block[:d, d] = b
    block[d, d + 1] = 1.0
    c = torch.linalg.matrix_exp(time * block)[:d, d + 1]
    z = (x.double() - c) @ torch.linalg.matrix_exp(-time * a).T
    log_base = -0.5 * (z**2).sum(-1) - 0.5 * d * math.log(2 * math.pi)
    return (log_base - time * torch.trace(a)).to(x.dtype)


def log_prob_cases(seed: int = 0) -> list[tuple]:
    """Inputs ``(f, x, time, step_size)`` for checking a CNF log-density on an RK4 grid.

    Example:
        >>> [(type(f).__name__, tuple(x.shape), T, h) for f, x, T, h in log_prob_cases()][:2]
        [('LinearDynamics', (6, 2), 1.0, 0.25), ('TimeMLP', (9, 2), 1.0, 0.25)]
    """
    generator = check_seed(seed)
    cases = []
    for kind, features, batch, dtype, time, step_size in _LOG_PROB_SHAPES:
        f = random_dynamics(kind, features, seed=generator, dtype=dtype)
        x = 1.5 * torch.randn(batch, features, generator=generator, dtype=torch.float64)
        cases.append((f, x.to(dtype), time, step_size))
    return cases


def training_data(n: int, seed: int) -> Tensor:
    """Two moons (noise 0.1), standardised with the mean and scale of the generator's
    population (so every draw uses the same map), shape ``(n, 2)``, float32."""
    x = two_moons(n, noise=0.1, seed=seed)
    return (x - torch.tensor([0.5, 0.25])) / torch.tensor([0.87, 0.5])
