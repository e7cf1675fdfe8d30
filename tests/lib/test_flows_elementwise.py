"""Tests for course_lib.flows.elementwise: affine and sinh-arcsinh maps and modules."""

import math

import pytest
import torch
from torch.distributions import Normal

from course_lib.flows import (
    Affine,
    Flow,
    SinhArcsinh,
    affine,
    sinh_arcsinh,
    standard_normal,
    standardizing_affine,
)


def draw(shape, *, device, dtype, seed=0, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(device, dtype)


# affine


def test_affine_matches_its_formula_both_ways(device, dtype):
    z = draw((6, 3), device=device, dtype=dtype)
    loc, log_scale = draw((3,), device=device, dtype=dtype, seed=1), draw(
        (3,), device=device, dtype=dtype, seed=2
    )
    x, log_det = affine(z, loc, log_scale)
    torch.testing.assert_close(x, loc + log_scale.exp() * z)
    torch.testing.assert_close(log_det, log_scale.sum().expand(6))
    back, inverse_log_det = affine(x, loc, log_scale, inverse=True)
    torch.testing.assert_close(back, z)
    torch.testing.assert_close(inverse_log_det, -log_det)


def test_affine_accepts_per_point_parameters(device, dtype):
    z = draw((4, 2), device=device, dtype=dtype)
    loc, log_scale = draw((4, 2), device=device, dtype=dtype, seed=1), draw(
        (4, 2), device=device, dtype=dtype, seed=2
    )
    _, log_det = affine(z, loc, log_scale)
    torch.testing.assert_close(log_det, log_scale.sum(-1))


def test_affine_module_starts_at_the_identity(device, dtype):
    transform = Affine(3).to(device, dtype)
    z = draw((5, 3), device=device, dtype=dtype)
    x, log_det = transform(z)
    assert torch.equal(x, z) and torch.equal(log_det, torch.zeros_like(log_det))


def test_affine_rejects_bad_arguments_naming_them(device):
    z = torch.zeros(4, 2, device=device)
    good = torch.zeros(2, device=device)
    with pytest.raises(ValueError, match=r"loc must broadcast to the shape of z, \(4, 2\)"):
        affine(z, torch.zeros(3, device=device), good)
    with pytest.raises(ValueError, match=r"log_scale must broadcast"):
        affine(z, good, torch.zeros(5, 2, device=device))
    with pytest.raises(TypeError, match=r"loc must have the dtype of z"):
        affine(z, good.double(), good)
    with pytest.raises(TypeError, match=r"log_scale must be a torch.Tensor"):
        affine(z, good, 0.0)
    with pytest.raises(ValueError, match=r"log_scale must contain only finite values"):
        affine(z, good, torch.tensor([0.0, math.nan], device=device))
    with pytest.raises(TypeError, match=r"z must have a floating-point dtype"):
        affine(torch.zeros(4, 2, dtype=torch.int64, device=device), good, good)
    with pytest.raises(ValueError, match=r"z must contain only finite values"):
        affine(torch.tensor([[math.nan, 0.0]], device=device), good, good)


# sinh-arcsinh


def test_sinh_arcsinh_matches_its_formula_both_ways(device, dtype):
    z = draw((6, 3), device=device, dtype=dtype, scale=2.0)
    skewness = torch.tensor([-0.5, 0.0, 1.0], device=device, dtype=dtype)
    tailweight = torch.tensor([0.6, 1.0, 1.7], device=device, dtype=dtype)
    x, log_det = sinh_arcsinh(z, skewness, tailweight)
    torch.testing.assert_close(x, torch.sinh((torch.asinh(z) + skewness) / tailweight))
    derivative = torch.cosh((torch.asinh(z) + skewness) / tailweight) / (
        tailweight * torch.sqrt(1 + z**2)
    )
    torch.testing.assert_close(log_det, derivative.log().sum(-1))
    back, inverse_log_det = sinh_arcsinh(x, skewness, tailweight, inverse=True)
    torch.testing.assert_close(back, torch.sinh(tailweight * torch.asinh(x) - skewness))
    torch.testing.assert_close(back, z)
    torch.testing.assert_close(inverse_log_det, -log_det)


def test_sinh_arcsinh_density_matches_jones_and_pewsey(device, dtype):
    # p(x) = phi(sinh(delta asinh(x) - eps)) delta cosh(delta asinh(x) - eps) / sqrt(1 + x^2)
    transform = SinhArcsinh(1).to(device, dtype)
    with torch.no_grad():
        transform.skewness.fill_(0.7)
        transform.log_tailweight.fill_(math.log(0.8))
    flow = Flow(standard_normal(1, device=device, dtype=dtype), [transform])
    x = torch.linspace(-6.0, 6.0, 41, device=device, dtype=dtype).unsqueeze(-1)
    inner = 0.8 * torch.asinh(x[:, 0]) - 0.7
    expected = (
        Normal(0.0, 1.0).log_prob(torch.sinh(inner))
        + math.log(0.8)
        + torch.cosh(inner).log()
        - 0.5 * torch.log1p(x[:, 0] ** 2)
    )
    torch.testing.assert_close(flow.log_prob(x), expected)


def test_sinh_arcsinh_density_integrates_to_one_in_one_dimension(device, dtype):
    transform = SinhArcsinh(1).to(device, dtype)
    with torch.no_grad():
        transform.skewness.fill_(-0.4)
        transform.log_tailweight.fill_(math.log(1.5))
    flow = Flow(standard_normal(1, device=device, dtype=dtype), [transform])
    grid = torch.linspace(-15.0, 15.0, 6001, device=device, dtype=dtype)
    with torch.no_grad():
        total = torch.trapezoid(flow.log_prob(grid.unsqueeze(-1)).exp(), grid)
    assert abs(float(total) - 1.0) < 1e-4


def test_sinh_arcsinh_stays_finite_far_in_the_tails(device):
    z = torch.tensor([[-1e150, 1e150]], device=device, dtype=torch.float64)
    ones = torch.ones(2, device=device, dtype=torch.float64)
    x, log_det = sinh_arcsinh(z, 0.0 * ones, ones)
    torch.testing.assert_close(x, z)
    assert torch.equal(log_det, torch.zeros_like(log_det))
    _, log_det = sinh_arcsinh(z, 0.3 * ones, 1.2 * ones)
    assert torch.isfinite(log_det).all()


def test_sinh_arcsinh_module_starts_at_the_identity(device, dtype):
    transform = SinhArcsinh(3).to(device, dtype)
    z = draw((5, 3), device=device, dtype=dtype, scale=3.0)
    x, log_det = transform(z)
    torch.testing.assert_close(x, z)
    torch.testing.assert_close(log_det, torch.zeros_like(log_det))
    torch.testing.assert_close(transform.tailweight, torch.ones(3, device=device, dtype=dtype))


def test_sinh_arcsinh_rejects_bad_arguments_naming_them(device):
    z = torch.zeros(4, 2, device=device)
    good = torch.ones(2, device=device)
    with pytest.raises(ValueError, match=r"tailweight must be positive; got a minimum of -1"):
        sinh_arcsinh(z, good, torch.tensor([1.0, -1.0], device=device))
    with pytest.raises(ValueError, match=r"skewness must broadcast"):
        sinh_arcsinh(z, torch.ones(3, device=device), good)
    with pytest.raises(TypeError, match=r"z must be a torch.Tensor"):
        sinh_arcsinh([0.0, 1.0], good, good)
    with pytest.raises(TypeError, match=r"z must have a floating-point dtype"):
        sinh_arcsinh(torch.zeros(4, 2, dtype=torch.int32, device=device), good, good)


def test_standardizing_affine_maps_data_to_zero_mean_unit_scale_and_is_frozen():
    generator = torch.Generator().manual_seed(0)
    data = torch.randn(500, 3, generator=generator, dtype=torch.float64) * torch.tensor(
        [0.5, 4.0, 30.0], dtype=torch.float64
    ) + torch.tensor([1.0, -2.0, 100.0], dtype=torch.float64)
    transform = standardizing_affine(data)
    z, log_det = transform.inverse(data)
    torch.testing.assert_close(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(log_det, -data.std(0).log().sum().expand(500))
    assert not any(p.requires_grad for p in transform.parameters())


def test_standardizing_affine_rejects_a_constant_feature():
    data = torch.tensor([[1.0, 2.0], [3.0, 2.0]])
    with pytest.raises(ValueError, match="feature 1 is constant"):
        standardizing_affine(data)
