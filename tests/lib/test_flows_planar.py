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


def raw_parameters(seed, features, *, dtype=torch.float64, device="cpu"):
    """Raw (w, u, b) of all kinds: tiny and large |w|, w^T u from very negative to large."""
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape):
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    def uniform(low, high):
        return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))

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
    with pytest.raises(RuntimeError, match=r"did not converge in max_iter=1 iterations"):
        planar_inverse(x, w, u, b, max_iter=1)
    z, _ = planar_inverse(x, w, u, b)
    torch.testing.assert_close(planar_forward(z, w, u, b)[0], x)


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
