"""Tests for course_lib.flows.planar: the constrained planar map, its inverse, Pyro's Planar."""

import math

import pytest
import torch
from pyro.distributions.transforms import Planar

from course_lib.flows import (
    Flow,
    PlanarTransform,
    planar_flow,
    planar_forward,
    planar_inverse,
)


def samplers(seed):
    """``normal(*shape)`` and ``uniform(low, high)``, float64, from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape):
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    def uniform(low, high):
        return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))

    return normal, uniform


def raw_parameters(seed, features, *, dtype=torch.float64, device="cpu"):
    """Raw (w, u, b) of all kinds: tiny and large |w|, w^T u from very negative to large."""
    normal, uniform = samplers(seed)
    w = normal(features) * 10.0 ** uniform(-4.0, 1.0)
    kind = seed % 4
    if kind == 0:  # w^T u very negative: -1 to -1000 along w, plus a random part
        u = -(10.0 ** uniform(0.0, 3.0)) * w / (w @ w) + normal(features)
    elif kind == 1:  # w^T u close to the boundary value -1 of the unconstrained map
        u = -(1.0 + uniform(-0.1, 0.1)) * w / (w @ w)
    else:
        u = normal(features) * 10.0 ** uniform(-1.0, 1.0)
    b = 3.0 * normal()
    return tuple(t.to(device, dtype) for t in (w, u, b))


def draw(shape, *, device, dtype, seed=0, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(device, dtype)


def test_planar_forward_matches_its_formula(device, dtype):
    w, u, b = raw_parameters(2, 3, device=device, dtype=dtype)
    z = draw((8, 3), device=device, dtype=dtype)
    wu = w @ u
    u_hat = u + (-1 + torch.nn.functional.softplus(wu) - wu) * w / (w @ w)
    activation = torch.tanh(z @ w + b)
    x, log_det = planar_forward(z, w, u, b)
    torch.testing.assert_close(x, z + activation.unsqueeze(-1) * u_hat)
    torch.testing.assert_close(log_det, torch.log1p((1 - activation**2) * (w @ u_hat)))


@pytest.mark.parametrize("seed", range(8))
def test_planar_forward_matches_pyro(seed, device):
    w, u, b = raw_parameters(seed, 4, device=device)
    reference = Planar(4).to(device=device, dtype=torch.float64)
    with torch.no_grad():
        reference.w.copy_(w)
        reference.u.copy_(u)
        reference.bias.copy_(b.reshape(1))
    z = draw((16, 4), device=device, dtype=torch.float64, seed=seed)
    x, log_det = planar_forward(z, w, u, b)
    with torch.no_grad():
        expected = reference(z)
        expected_log_det = reference.log_abs_det_jacobian(z, expected)
        # Pyro constrains u the same way (Rezende & Mohamed, 2015, appendix A).
        expected_u_hat = reference.u_hat(reference.u, reference.w)
    torch.testing.assert_close(x, expected)
    torch.testing.assert_close(log_det, expected_log_det)
    module = PlanarTransform(4).to(device=device, dtype=torch.float64)
    with torch.no_grad():
        module.w.copy_(w)
        module.u.copy_(u)
        module.b.copy_(b)
    torch.testing.assert_close(module.u_hat, expected_u_hat)


@pytest.mark.parametrize("features", [1, 2, 5])
def test_planar_constraint_keeps_the_map_invertible_for_any_raw_parameters(features, device):
    dtype = torch.float64
    for seed in range(200):
        w, u, b = raw_parameters(seed, features, device=device)
        z = draw((32, features), device=device, dtype=dtype, seed=seed, scale=2.0)
        x, log_det = planar_forward(z, w, u, b)
        module = PlanarTransform(features).to(device, dtype)
        with torch.no_grad():
            module.w.copy_(w)
            module.u.copy_(u)
            # w^T u_hat = -1 + softplus(w^T u) > -1, up to rounding in the product.
            assert float(w @ module.u_hat) > -1.0 - 1e-9, f"seed {seed}"
        assert torch.isfinite(log_det).all(), f"seed {seed}"
        back, inverse_log_det = planar_inverse(x, w, u, b)
        # Points move only along u_hat, whose size grows like 1/|w|: compare on that scale.
        scale = 1.0 + x.abs().amax(-1, keepdim=True)
        error = float(((back - z).abs() / scale).max())
        assert error < 1e-6, f"seed {seed}: inverse(forward(z)) is off by {error:.2g}"
        again, _ = planar_forward(back, w, u, b)
        assert float(((again - x).abs() / scale).max()) < 1e-12, f"seed {seed}"
        torch.testing.assert_close(inverse_log_det, -log_det, rtol=1e-6, atol=1e-6)


def test_planar_inverse_of_arbitrary_points_is_exact(device, dtype):
    w, u, b = raw_parameters(0, 3, device=device, dtype=dtype)
    x = draw((100, 3), device=device, dtype=dtype, scale=5.0)
    z, _ = planar_inverse(x, w, u, b)
    again, _ = planar_forward(z, w, u, b)
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(again, x, rtol=tolerance, atol=tolerance)


def test_planar_inverse_gradients_are_exact(device):
    w, u, b = raw_parameters(2, 2, device=device)
    x = draw((5, 2), device=device, dtype=torch.float64, scale=2.0)
    inputs = tuple(t.clone().requires_grad_(True) for t in (x, w, u, b))
    assert torch.autograd.gradcheck(lambda *args: planar_inverse(*args), inputs)


def test_planar_inverse_says_when_it_does_not_converge(device):
    w = torch.tensor([1.0, 0.0], device=device, dtype=torch.float64)
    u = torch.tensor([50.0, 0.0], device=device, dtype=torch.float64)
    b = torch.tensor(0.3, device=device, dtype=torch.float64)
    x = torch.tensor([[7.0, 1.0]], device=device, dtype=torch.float64)
    with pytest.raises(RuntimeError, match=r"planar_inverse did not converge in max_iter=1 it"):
        planar_inverse(x, w, u, b, max_iter=1)
    z, _ = planar_inverse(x, w, u, b)
    torch.testing.assert_close(planar_forward(z, w, u, b)[0], x)
    transform = PlanarTransform(2).to(device, torch.float64)
    with torch.no_grad():
        transform.w.copy_(w)
        transform.u.copy_(u)
        transform.b.copy_(b)
    transform.max_iter = 1
    with pytest.raises(RuntimeError, match=r"PlanarTransform.inverse did not converge"):
        transform.inverse(x)


# Layers of planar flows trained with Adam at learning rates 3e-2 and 1e-1 on the eight
# Gaussians and the checkerboard, and the projection w^T x of a point the earlier solver
# (Newton, bisecting only when a step left the bracket) could not invert in 100 iterations:
# with w^T u_hat = 3.6 to 3.7 its Newton steps cycled between the two tails of tanh.
TRAINED_LAYERS = [
    # (w, u, b, w^T x)
    (
        (-2.357335329055786, -1.9639983177185059),
        (-1.171116828918457, -0.9759728908538818),
        0.465559184551239,
        -2.2908859252929688,
    ),
    (
        (0.06524529308080673, -3.5733749866485596),
        (0.35747653245925903, -1.3129494190216064),
        -1.1497676372528076,
        3.0257632732391357,
    ),
    (
        (-2.1376514434814453, -1.796028971672058),
        (-1.1310964822769165, -1.2082918882369995),
        0.4341731071472168,
        -2.137091636657715,
    ),
]


@pytest.mark.parametrize("layer", TRAINED_LAYERS)
def test_planar_inverse_converges_where_newton_cycles(layer, device, dtype):
    w, u, b, projection = layer
    w, u, b = (torch.tensor(v, device=device, dtype=dtype) for v in (w, u, b))
    # The failing point first, then others around it.
    x = projection * w / (w @ w) + draw((64, 2), device=device, dtype=dtype, scale=2.0)
    x[0] = projection * w / (w @ w)
    z, log_det = planar_inverse(x, w, u, b)
    again, forward_log_det = planar_forward(z, w, u, b)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(again, x, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(log_det, -forward_log_det, rtol=tolerance, atol=tolerance)


def test_planar_inverse_gradients_are_exact_where_newton_cycles(device):
    w, u, b, projection = TRAINED_LAYERS[0]
    w, u, b = (torch.tensor(v, device=device, dtype=torch.float64) for v in (w, u, b))
    x = projection * w / (w @ w) + draw((4, 2), device=device, dtype=torch.float64, scale=0.3)
    inputs = tuple(t.clone().requires_grad_(True) for t in (x, w, u, b))
    assert torch.autograd.gradcheck(lambda *args: planar_inverse(*args), inputs)


def extreme_case(seed, features, *, device, dtype):
    """Raw (w, u, b) at the edges and points z around the hyperplane, all in ``dtype``.

    |w| from 1e-4 to 1e4; w^T u_hat = -1 + softplus(w^T u) from -1 + 1e-30 (w^T u down
    to -69, where the map is nearly singular at the hyperplane) to 1e6; |b| up to ~300.
    """
    normal, uniform = samplers(seed)
    w = normal(features) * 10.0 ** uniform(-4.0, 4.0)
    along = w / (w @ w)  # w^T along = 1

    def across(scale):  # orthogonal to w: leaves w^T u and w^T z alone
        noise = scale * normal(features)
        return noise - (noise @ w) * along

    kind = seed % 3
    if kind == 0:
        wu = -(10.0 ** uniform(0.0, math.log10(69.0)))
    elif kind == 1:
        wu = 10.0 ** uniform(0.0, 6.0)
    else:
        wu = 10.0 ** uniform(-1.0, 3.0) * normal()
    u = wu * along + across(10.0 ** uniform(-2.0, 4.0))
    b = normal() * 10.0 ** uniform(-1.0, 2.0)
    # w^T z + b spread around 0 on scales from 1e-3 to 10, where the map bends most.
    a = normal(128) * 10.0 ** uniform(-3.0, 1.0)
    z = (a - b).unsqueeze(-1) * along + torch.stack([across(1.0) for _ in range(128)])
    return tuple(t.to(device, dtype) for t in (w, u, b, z))


@pytest.mark.parametrize("features", [1, 2, 5])
def test_planar_inverse_round_trips_at_extreme_parameters(features, device, dtype):
    """inverse(forward(z)) == z within what rounding allows, with no error, for raw parameters
    at the edges; and forward(inverse(x)) == x."""
    eps = torch.finfo(dtype).eps
    for seed in range(60):
        w, u, b, z = extreme_case(seed, features, device=device, dtype=dtype)
        x, log_det = planar_forward(z, w, u, b)
        back, inverse_log_det = planar_inverse(x, w, u, b)
        assert torch.isfinite(back).all() and torch.isfinite(inverse_log_det).all(), seed
        again, _ = planar_forward(back, w, u, b)
        # The bounds, computed in float64 from the values in dtype.
        w, u, b, z, x, back, again = (t.double() for t in (w, u, b, z, x, back, again))
        wu = w @ u
        s = torch.nn.functional.softplus(wu)
        c = s - 1  # w^T u_hat
        u_hat = (u + (c - wu) * w / (w @ w)).norm()
        w_norm = w.norm()
        vectors = x.norm(dim=-1) + z.norm(dim=-1) + u_hat
        scalars = w_norm * (x.norm(dim=-1) + z.norm(dim=-1)) + b.abs() + c.abs() + 1
        # Rounding in x = z + u_hat tanh(w^T z + b) (and in z = x - u_hat tanh(alpha + b)),
        # then in w^T x.
        x_rounding = 64 * eps * (vectors + u_hat * scalars)
        y_rounding = w_norm * x_rounding + 64 * eps * scalars
        # g' = 1 + c tanh' >= min(1, 1 + c) = min(1, s); for c <= 0 also
        # g(alpha + d) - g(alpha) >= d - 2 tanh(d / 2) >= d^3 / 24 for |d| <= 2.
        alpha_error = y_rounding / torch.clamp(s, max=1.0)
        if c <= 0:
            alpha_error = torch.minimum(alpha_error, (24 * y_rounding) ** (1 / 3))
        solver = 1e-12 * scalars  # bounds the solver's tolerance on alpha
        allowed = 2 * x_rounding + u_hat * (alpha_error + solver)
        error = (back - z).norm(dim=-1)
        assert (error <= allowed).all(), f"seed {seed}: {float((error / allowed).max()):.3g}"
        # The other way round the error is the rounding, amplified by forward's Jacobian
        # I + u_hat tanh' w^T, plus the residual |g(alpha)| <= max g' * solver.
        allowed = x_rounding * (1 + u_hat * w_norm) + u_hat * (1 + c.clamp(min=0)) * solver
        error = (again - x).norm(dim=-1)
        assert (error <= allowed).all(), f"seed {seed}: {float((error / allowed).max()):.3g}"


def test_planar_functions_reject_bad_arguments_naming_them(device):
    x = torch.zeros(4, 2, device=device)
    w, u = torch.ones(2, device=device), torch.ones(2, device=device)
    b = torch.zeros((), device=device)
    with pytest.raises(ValueError, match=r"w must be a nonzero vector"):
        planar_forward(x, torch.zeros(2, device=device), u, b)
    with pytest.raises(ValueError, match=r"w must be a nonzero vector"):
        planar_inverse(x, torch.zeros(2, device=device), u, b)
    with pytest.raises(ValueError, match=r"u must have shape \(2,\)"):
        planar_forward(x, w, torch.ones(3, device=device), b)
    with pytest.raises(ValueError, match=r"b must be a scalar tensor"):
        planar_forward(x, w, u, torch.zeros(2, device=device))
    with pytest.raises(TypeError, match=r"b must be a torch.Tensor"):
        planar_forward(x, w, u, 0.0)
    with pytest.raises(TypeError, match=r"w must have the dtype of z"):
        planar_forward(x, w.double(), u, b)
    with pytest.raises(ValueError, match=r"x must contain only finite values"):
        planar_inverse(torch.full((2, 2), math.nan, device=device), w, u, b)
    with pytest.raises(TypeError, match=r"z must have a floating-point dtype"):
        planar_forward(torch.zeros(4, 2, dtype=torch.int64, device=device), w, u, b)
    with pytest.raises(ValueError, match=r"tol must be a finite positive number"):
        planar_inverse(x, w, u, b, tol=0.0)
    with pytest.raises(ValueError, match=r"max_iter must be a positive integer"):
        planar_inverse(x, w, u, b, max_iter=0)
    huge = torch.tensor([1e200, 0.0], device=device, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"planar_inverse: w\^T x or w\^T u overflows float64"):
        planar_inverse(huge.reshape(1, 2), huge, huge, b.double())
    same = planar_forward(x, w, u, b.reshape(1))[0]
    torch.testing.assert_close(same, planar_forward(x, w, u, b)[0])


def test_planar_transform_with_a_zero_w_says_so(device):
    transform = PlanarTransform(2, seed=0).to(device)
    with torch.no_grad():
        transform.w.zero_()
    with pytest.raises(ValueError, match=r"PlanarTransform.w must be a nonzero vector"):
        transform(torch.zeros(3, 2, device=device))


def test_planar_transform_repeats_with_its_seed():
    first, second = PlanarTransform(3, seed=7), PlanarTransform(3, seed=7)
    assert torch.equal(first.w, second.w) and torch.equal(first.u, second.u)
    assert first.b.shape == () and float(first.b.detach()) == 0.0
    assert not torch.equal(first.w, PlanarTransform(3, seed=8).w)


def test_planar_flow_stacks_distinct_layers():
    flow = planar_flow(3, layers=5, seed=0)
    assert isinstance(flow, Flow) and len(flow.transform) == 5
    assert all(isinstance(t, PlanarTransform) for t in flow.transform)
    assert not torch.equal(flow.transform[0].w, flow.transform[1].w)
    again = planar_flow(3, layers=5, seed=0)
    pairs = zip(flow.parameters(), again.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        planar_flow(3, layers=0)
