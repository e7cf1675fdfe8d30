"""Tests for course_lib.flows.continuous: traces, the ODE map and its log-det, CNF densities."""

import math

import pytest
import torch
from flow_testing import randomized
from torch import nn

from course_lib.flows import (
    CNF,
    ContinuousTransform,
    HyperPlanarDynamics,
    TimeMLP,
    cnf,
    exact_trace,
    hutchinson_trace,
    standard_normal,
)
from course_lib.grading import check_invertible, check_log_det

DYNAMICS = {
    "concat": lambda: TimeMLP(3, hidden_features=8, layer="concat"),
    "squash": lambda: TimeMLP(3, hidden_features=8, layer="squash"),
    "hyper": lambda: HyperPlanarDynamics(3, width=6, hidden_features=8),
}


def make_dynamics(name, dtype, seed=0):
    # Large weights in the hypernetwork collapse the density onto a point.
    scale = 0.3 if name == "hyper" else 0.5
    return randomized(DYNAMICS[name]().to(dtype), scale=scale, seed=seed)


class Linear(nn.Module):
    """f(z, t) = A z."""

    def __init__(self, matrix):
        super().__init__()
        self.features = matrix.shape[0]
        self.matrix = nn.Parameter(matrix)

    def forward(self, t, z):
        return z @ self.matrix.T


class FirstFeature(nn.Module):
    """Dynamics of the wrong shape: f(z, t) = z[:, :1]."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, t, z):
        return self.scale * z[:, :1]


def points(shape, dtype, seed=1, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype)


def jacobian_traces(f, t, z):
    """The trace of autograd's Jacobian of one point at a time."""
    traces = []
    for row in z:
        jacobian = torch.autograd.functional.jacobian(lambda v: f(t, v[None])[0], row)
        traces.append(torch.diagonal(jacobian).sum())
    return torch.stack(traces)


@pytest.mark.parametrize("name", DYNAMICS)
def test_exact_trace_equals_trace_of_autograd_jacobian(name):
    f = make_dynamics(name, torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    z = points((5, 3), torch.float64).requires_grad_(True)
    expected = jacobian_traces(f, t, z.detach())
    torch.testing.assert_close(exact_trace(f(t, z), z), expected, rtol=1e-10, atol=1e-10)


FORWARD = {
    **DYNAMICS,
    "softplus": lambda: TimeMLP(3, hidden_features=8, layer="squash", activation="softplus"),
    "affine": lambda: TimeMLP(3, hidden_layers=0),
    "deep": lambda: TimeMLP(3, hidden_features=5, hidden_layers=3),
}


@pytest.mark.parametrize("name", FORWARD)
def test_forward_trace_equals_trace_of_autograd_jacobian(name):
    scale = 0.3 if name == "hyper" else 0.5
    f = randomized(FORWARD[name]().double(), scale=scale, seed=0)
    t = torch.tensor(0.3, dtype=torch.float64)
    z = points((5, 3), torch.float64)
    velocity, trace = f.velocity_and_trace(t, z)
    torch.testing.assert_close(velocity, f(t, z), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(trace, jacobian_traces(f, t, z), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dynamics", ["concat", "squash", "hyper"])
def test_forward_and_exact_traces_give_the_same_density_and_gradients(dynamics):
    x = points((16, 2), torch.float64)
    results = []
    for trace in ("exact", "forward"):
        flow = random_cnf(dynamics, trace=trace, method="rk4", step_size=0.25)
        log_prob = flow.log_prob(x)
        results.append((log_prob, torch.autograd.grad(log_prob.mean(), list(flow.parameters()))))
    (exact, exact_grads), (forward, forward_grads) = results
    torch.testing.assert_close(forward, exact, rtol=1e-10, atol=1e-10)
    for a, b in zip(forward_grads, exact_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_estimate_is_unbiased(probe):
    f = make_dynamics("concat", torch.float64)
    t = torch.tensor(0.7, dtype=torch.float64)
    n = 4000
    z = points((1, 3), torch.float64).expand(n, 3).clone().requires_grad_(True)
    exact = jacobian_traces(f, t, z[:1].detach()).item()
    if probe == "gaussian":
        eps = torch.randn(n, 3, dtype=torch.float64)
    else:
        eps = torch.randint(0, 2, (n, 3)).to(torch.float64) * 2 - 1
    estimates = hutchinson_trace(f(t, z), z, eps)
    assert estimates.std() > 1e-3  # the estimate is random, not the trace itself
    error = estimates.mean().item() - exact
    assert abs(error) < 3 * estimates.std().item() / math.sqrt(n)


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_log_det_is_unbiased_over_a_solve(probe):
    # With a fixed grid the path does not depend on the probe, so the mean log-det
    # over probes is the exact one of the same grid.
    f = make_dynamics("squash", torch.float64)
    options = {"method": "rk4", "step_size": 0.25}
    exact = ContinuousTransform(3, f, **options)
    estimate = ContinuousTransform(3, f, trace="hutchinson", probe=probe, **options)
    n = 2000
    z = points((1, 3), torch.float64).expand(n, 3)
    with torch.no_grad():
        target = exact(z[:1])[1].item()
        log_dets = estimate(z)[1]
    assert log_dets.std() > 1e-3
    assert abs(log_dets.mean().item() - target) < 3 * log_dets.std().item() / math.sqrt(n)


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_zero_dynamics_gives_the_base_density(method, dtype):
    flow = cnf(2, hidden_features=8, method=method, seed=0).to(dtype)  # starts at f = 0
    x = points((7, 2), dtype)
    expected = standard_normal(2, dtype=dtype).log_prob(x)
    torch.testing.assert_close(flow.log_prob(x), expected)


@pytest.mark.parametrize(
    "options",
    [{"method": "dopri5", "rtol": 1e-9, "atol": 1e-9}, {"method": "rk4", "step_size": 0.02}],
    ids=["dopri5", "rk4"],
)
def test_linear_dynamics_give_the_matrix_exponential(options):
    matrix = torch.tensor(
        [[0.3, -1.0, 0.2], [0.8, -0.5, 0.1], [0.0, 0.4, 0.6]], dtype=torch.float64
    )
    time = 1.5
    f = ContinuousTransform(3, Linear(matrix), time=time, **options)
    z = points((6, 3), torch.float64)
    with torch.no_grad():
        x, log_det = f(z)
        back, back_log_det = f.inverse(x)
        path, path_log_det = f.trajectory(z, torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64))
    close = {"rtol": 1e-7, "atol": 1e-7}
    torch.testing.assert_close(x, z @ torch.linalg.matrix_exp(time * matrix).T, **close)
    torch.testing.assert_close(
        log_det, torch.full((6,), time * matrix.trace().item(), dtype=torch.float64), **close
    )
    torch.testing.assert_close(back, z, **close)
    torch.testing.assert_close(back_log_det, -log_det, **close)
    for k, t in enumerate([0.5, 1.0, 1.5]):
        torch.testing.assert_close(path[k], z @ torch.linalg.matrix_exp(t * matrix).T, **close)
        torch.testing.assert_close(
            path_log_det[k],
            torch.full((6,), t * matrix.trace().item(), dtype=torch.float64),
            **close,
        )


@pytest.mark.parametrize("name", DYNAMICS)
def test_continuous_transform_inverts_and_its_log_det_matches_autograd(name):
    f = ContinuousTransform(
        3, make_dynamics(name, torch.float64, seed=2), rtol=1e-7, atol=1e-7, time=0.5
    )
    z = points((6, 3), torch.float64)
    with torch.no_grad():
        assert not torch.allclose(f(z)[0], z, atol=1e-2)
        check_invertible(name, f, f.inverse, z, rtol=1e-5, atol=1e-5)
    # Autograd differentiates through the solver's steps: an independent log-det.
    check_log_det(name, f, z[:3], rtol=1e-5, atol=1e-5)
    check_log_det(f"{name} inverse", f.inverse, z[:3], rtol=1e-5, atol=1e-5)


def test_batch_dimensions_are_kept():
    f = ContinuousTransform(3, make_dynamics("concat", torch.float64), method="rk4")
    z = points((2, 4, 3), torch.float64)
    x, log_det = f(z)
    assert x.shape == (2, 4, 3) and log_det.shape == (2, 4)
    flat_x, flat_log_det = f(z.reshape(8, 3))
    torch.testing.assert_close(x.reshape(8, 3), flat_x)
    torch.testing.assert_close(log_det.reshape(8), flat_log_det)


def random_cnf(dynamics="concat", **options):
    flow = cnf(2, dynamics=dynamics, hidden_features=16, width=8, seed=0, **options).double()
    # Large weights in the hypernetwork collapse the density onto a point.
    randomized(flow.ode.dynamics, scale=0.2 if dynamics == "hyper" else 0.5, seed=4)
    return flow


@pytest.mark.parametrize("dynamics", ["concat", "hyper"])
def test_density_integrates_to_one_on_a_grid(dynamics):
    flow = random_cnf(dynamics, rtol=1e-7, atol=1e-7)
    edge, n = 7.0, 101
    axis = torch.linspace(-edge, edge, n, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        x = flow.sample((200,))
        density = flow.log_prob(grid).exp()
    assert (x.abs() < edge - 1).float().mean() > 0.99  # the mass is inside the grid
    # The flow moves the density: the check is not the base's integral again.
    assert (
        density - standard_normal(2, dtype=torch.float64).log_prob(grid).exp()
    ).abs().max() > 1e-2
    mass = density.sum() * (axis[1] - axis[0]) ** 2
    assert abs(mass.item() - 1.0) < 1e-2


def test_sample_and_log_prob_agree_with_log_prob():
    flow = random_cnf(rtol=1e-8, atol=1e-8)
    x, log_prob = flow.sample_and_log_prob((6,))
    torch.testing.assert_close(flow.log_prob(x), log_prob, rtol=1e-6, atol=1e-6)
    assert flow.rsample((3,)).shape == (3, 2)


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_adjoint_and_direct_gradients_agree(trace):
    x = points((16, 2), torch.float64)
    grads = []
    for adjoint in (False, True):
        flow = random_cnf(trace=trace, rtol=1e-8, atol=1e-8, adjoint=adjoint)
        torch.manual_seed(5)  # the same Hutchinson probes in both runs
        loss = -flow.log_prob(x).mean()
        grads.append(torch.autograd.grad(loss, list(flow.parameters())))
    for direct, adjoint in zip(*grads, strict=True):
        assert direct.abs().max() > 0
        torch.testing.assert_close(adjoint, direct, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dynamics", ["concat", "squash", "hyper"])
def test_gradients_reach_every_parameter(dynamics):
    flow = random_cnf(dynamics, method="rk4")
    (-flow.log_prob(points((8, 2), torch.float64)).mean()).backward()
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().max() > 0, name


def test_sample_trajectory_runs_from_base_to_samples():
    flow = random_cnf(method="rk4", step_size=0.05)
    times = torch.linspace(0, 1, 7)
    torch.manual_seed(3)
    path = flow.sample_trajectory((5,), times)
    torch.manual_seed(3)
    base = flow.base.sample((5,))
    assert path.shape == (7, 5, 2)
    torch.testing.assert_close(path[0], base)
    with torch.no_grad():
        torch.testing.assert_close(path[-1], flow.ode(base)[0])


def test_nfe_counts_evaluations_of_the_dynamics():
    flow = random_cnf(method="rk4", step_size=0.25)
    flow.log_prob(points((4, 2), torch.float64))
    assert flow.nfe == 4 * 4  # four steps of four stages
    flow.reset_nfe()
    assert flow.nfe == 0
    adaptive = random_cnf(rtol=1e-3, atol=1e-3)
    adaptive.sample((4,))
    assert adaptive.nfe > 0 and adaptive.nfe % 6 == 2  # dopri5: 2 to start, 6 per step


def test_bad_arguments_raise_clear_errors():
    f = TimeMLP(2, hidden_features=4)
    with pytest.raises(ValueError, match="method"):
        ContinuousTransform(2, f, method="leapfrog")
    with pytest.raises(ValueError, match="rtol"):
        ContinuousTransform(2, f, rtol=-1e-5)
    with pytest.raises(ValueError, match="atol"):
        ContinuousTransform(2, f, atol=float("nan"))
    with pytest.raises(ValueError, match="step_size"):
        ContinuousTransform(2, f, step_size=0.1)
    with pytest.raises(ValueError, match="step_size"):
        ContinuousTransform(2, f, method="rk4", step_size=0.0)
    with pytest.raises(ValueError, match="trace"):
        ContinuousTransform(2, f, trace="approximate")
    with pytest.raises(ValueError, match="probe"):
        ContinuousTransform(2, f, trace="hutchinson", probe="uniform")
    with pytest.raises(TypeError, match="velocity_and_trace"):
        ContinuousTransform(2, Linear(torch.eye(2)), trace="forward")
    with pytest.raises(ValueError, match="time"):
        ContinuousTransform(2, f, time=0.0)
    with pytest.raises(TypeError, match="dynamics"):
        ContinuousTransform(2, lambda t, z: z)
    with pytest.raises(ValueError, match="dynamics must act on 2 features"):
        ContinuousTransform(2, TimeMLP(3))
    with pytest.raises(ValueError, match="dynamics"):
        cnf(2, dynamics="resnet")
    with pytest.raises(TypeError, match="base"):
        CNF(torch.zeros(2), f)
    with pytest.raises(ValueError, match="base"):
        CNF(torch.distributions.Normal(torch.zeros(2), 1.0), f)
    flow = CNF(standard_normal(2), f, method="rk4")
    with pytest.raises(ValueError, match=r"x must have shape \(\*batch, 2\)"):
        flow.log_prob(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="x must contain only finite values"):
        flow.log_prob(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="times"):
        flow.sample_trajectory((3,), torch.tensor([0.5, 0.2]))
    with pytest.raises(ValueError, match="times"):
        flow.sample_trajectory((3,), torch.tensor([0.0, 2.0]))
    wrong = CNF(standard_normal(2), FirstFeature(), method="rk4")
    with pytest.raises(ValueError, match=r"dynamics\(t, z\) must return a tensor of the shape"):
        wrong.log_prob(torch.zeros(4, 2))
