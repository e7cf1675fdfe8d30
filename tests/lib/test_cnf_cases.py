"""Tests of course_lib.cnf_cases: the references of the CNF assignment against independent
sources (analytic traces, a Gaussian from torch.distributions, course_lib's exact trace)."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from course_lib.cnf_cases import (
    LinearDynamics,
    augmented_reference,
    divergence_cases,
    jacobian_trace,
    linear_log_prob,
    log_prob_cases,
    log_prob_reference,
    random_dynamics,
    training_data,
)
from course_lib.flows import exact_trace


def _linear(seed=0, features=2):
    generator = torch.Generator().manual_seed(seed)
    matrix = 0.5 * torch.randn(features, features, generator=generator, dtype=torch.float64)
    shift = torch.randn(features, generator=generator, dtype=torch.float64)
    return LinearDynamics(matrix, shift)


def test_jacobian_trace_of_linear_dynamics_is_the_trace_of_the_matrix():
    f = _linear(features=3)
    z = torch.randn(6, 3, dtype=torch.float64)
    expected = torch.full((6,), torch.trace(f.matrix.detach()).item(), dtype=torch.float64)
    torch.testing.assert_close(jacobian_trace(f, torch.tensor(0.7), z), expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_jacobian_trace_agrees_with_exact_trace(seed):
    for f, t, z in divergence_cases(seed=seed):
        points = z.clone().requires_grad_(True)
        expected = exact_trace(f(t, points), points).detach()
        actual = jacobian_trace(f, t, z)
        assert actual.dtype == z.dtype and actual.shape == (z.shape[0],)
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


def test_divergence_cases_repeat_with_their_seed_and_differ_across_seeds():
    first, again, other = (divergence_cases(seed=s) for s in (3, 3, 4))
    for (fa, ta, za), (fb, tb, zb) in zip(first, again, strict=True):
        assert torch.equal(ta, tb) and torch.equal(za, zb)
        pairs = zip(fa.parameters(), fb.parameters(), strict=True)
        assert all(torch.equal(p, q) for p, q in pairs)
    assert not torch.equal(first[0][2], other[0][2])


def test_augmented_reference_is_the_dynamics_and_minus_the_trace():
    f, t, z = divergence_cases(seed=2)[2]
    dz, dell = augmented_reference(f, t, (z, torch.zeros(z.shape[0], dtype=z.dtype)))
    with torch.no_grad():
        torch.testing.assert_close(dz, f(t, z))
    torch.testing.assert_close(dell, -jacobian_trace(f, t, z))


@pytest.mark.parametrize("time", [0.5, 1.0])
def test_linear_log_prob_is_the_gaussian_pushforward(time):
    # Without the shift, x = exp(AT) z is Gaussian with covariance exp(AT) exp(AT)^T.
    f = _linear(seed=5)
    with torch.no_grad():
        f.shift.zero_()
    flow_map = torch.linalg.matrix_exp(time * f.matrix.detach())
    gaussian = MultivariateNormal(torch.zeros(2, dtype=torch.float64), flow_map @ flow_map.T)
    x = torch.randn(20, 2, dtype=torch.float64)
    torch.testing.assert_close(linear_log_prob(f, x, time), gaussian.log_prob(x))


def test_linear_log_prob_integrates_to_one():
    f = _linear(seed=6)
    side = torch.linspace(-12.0, 12.0, 481, dtype=torch.float64)
    grid = torch.cartesian_prod(side, side)
    cell = (side[1] - side[0]) ** 2
    total = (linear_log_prob(f, grid).exp().sum() * cell).item()
    assert total == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("adaptive", [False, True])
def test_log_prob_reference_matches_the_closed_form_for_linear_dynamics(adaptive):
    f = _linear(seed=7)
    x = torch.randn(30, 2, dtype=torch.float64)
    actual = log_prob_reference(f, x, step_size=0.02, adaptive=adaptive)
    torch.testing.assert_close(actual, linear_log_prob(f, x), rtol=1e-5, atol=1e-5)


def test_log_prob_cases_give_finite_reference_values():
    for f, x, time, step_size in log_prob_cases(seed=0):
        values = log_prob_reference(f, x, time, step_size)
        assert values.shape == (x.shape[0],) and values.dtype == x.dtype
        assert torch.isfinite(values).all()


def test_training_data_is_standardised():
    x = training_data(100_000, seed=3)
    assert x.shape == (100_000, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x.mean(0), torch.zeros(2), atol=0.02, rtol=0)
    torch.testing.assert_close(x.std(0), torch.ones(2), atol=0.03, rtol=0)
    assert math.isfinite(x.sum().item())


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="kind"):
        random_dynamics("spline", 2)
    with pytest.raises(ValueError, match="square"):
        LinearDynamics(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="LinearDynamics"):
        linear_log_prob(random_dynamics("mlp", 2), torch.zeros(1, 2, dtype=torch.float64))
