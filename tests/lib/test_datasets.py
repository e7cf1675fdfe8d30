"""Tests for course_lib.datasets: seeded, offline data generators."""

import math

import pytest
import torch
from scipy import integrate, stats

from course_lib.datasets import ChoiceData, bimodal_1d, binary_choice


def test_binary_choice_shapes_and_values():
    data = binary_choice(n=50, beta=[1.0, -2.0, 0.5], alpha=0.3, seed=0)
    assert isinstance(data, ChoiceData)
    assert data.x.shape == (50, 3) and data.y.shape == (50,) and data.beta.shape == (3,)
    assert data.beta.tolist() == [1.0, -2.0, 0.5] and data.alpha == 0.3
    assert set(data.y.unique().tolist()) <= {0.0, 1.0}


def test_binary_choice_defaults_are_the_course_example():
    data = binary_choice()
    assert data.x.shape == (1000, 1)
    assert data.beta.tolist() == [2.0] and data.alpha == 1.0
    assert data.x.dtype == data.y.dtype == data.beta.dtype == torch.float32


def test_binary_choice_is_frozen():
    data = binary_choice(n=5)
    with pytest.raises(AttributeError):
        data.alpha = 2.0


def test_binary_choice_same_seed_repeats():
    a, b = binary_choice(n=200, seed=5), binary_choice(n=200, seed=5)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_binary_choice_different_seeds_differ():
    a, b = binary_choice(n=200, seed=5), binary_choice(n=200, seed=6)
    assert not torch.equal(a.x, b.x) and not torch.equal(a.y, b.y)


def test_binary_choice_ignores_and_keeps_the_global_generator():
    state = torch.random.get_rng_state()
    a = binary_choice(n=20, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())
    torch.rand(10)
    assert torch.equal(binary_choice(n=20, seed=1).x, a.x)


def test_binary_choice_accepts_a_generator():
    a = binary_choice(n=20, seed=torch.Generator().manual_seed(3))
    assert torch.equal(a.x, binary_choice(n=20, seed=3).x)


def test_binary_choice_is_the_same_data_in_every_dtype():
    single = binary_choice(n=300, seed=2, dtype=torch.float32)
    double = binary_choice(n=300, seed=2, dtype=torch.float64)
    assert double.x.dtype == torch.float64
    assert torch.equal(single.x, double.x.float())
    assert torch.equal(single.y, double.y.float())


def test_binary_choice_share_matches_the_logit_probability():
    """Given x, y_i - sigma(eta_i) has mean 0 and variance at most 1/4: a Monte-Carlo bound."""
    n = 200_000
    data = binary_choice(n=n, beta=[1.5, -0.5], alpha=-0.3, seed=0, dtype=torch.float64)
    probability = torch.sigmoid(data.alpha + data.x @ data.beta)
    error = (probability * (1 - probability)).mean().sqrt().item() / math.sqrt(n)
    assert abs(data.y.mean().item() - probability.mean().item()) < 4 * error


def test_binary_choice_share_matches_the_integrated_logit_probability():
    """Independent source: E[sigma(alpha + beta X)] for X ~ N(0, 1) by quadrature (scipy)."""
    n = 200_000
    data = binary_choice(n=n, beta=2.0, alpha=1.0, seed=1, dtype=torch.float64)
    expected, _ = integrate.quad(
        lambda t: stats.logistic.cdf(1.0 + 2.0 * t) * stats.norm.pdf(t), -12, 12
    )
    # Variance of the share: E[y](1 - E[y]) / n.
    error = math.sqrt(expected * (1 - expected) / n)
    assert abs(data.y.mean().item() - expected) < 4 * error


def test_binary_choice_regressors_are_standard_normal():
    data = binary_choice(n=100_000, beta=[1.0, 1.0], seed=0, dtype=torch.float64)
    assert data.x.mean(0).abs().max().item() < 4 / math.sqrt(100_000)
    covariance = torch.cov(data.x.T)
    assert torch.allclose(covariance, torch.eye(2, dtype=torch.float64), atol=0.02)


def test_binary_choice_shocks_are_gumbel_through_the_choice_of_a_constant_only_model():
    """With beta = 0, P(y = 1) = sigma(alpha) exactly: the Gumbel difference is logistic."""
    n = 200_000
    for alpha in (-2.0, 0.0, 1.5):
        data = binary_choice(n=n, beta=0.0, alpha=alpha, seed=3, dtype=torch.float64)
        p = 1 / (1 + math.exp(-alpha))
        assert abs(data.y.mean().item() - p) < 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be a positive integer"),
        ({"n": 2.5}, TypeError, "n must be a positive integer"),
        ({"beta": []}, ValueError, "beta must hold at least one"),
        ({"beta": [1.0, float("nan")]}, ValueError, "beta must contain only finite"),
        ({"beta": "2"}, TypeError, "beta must be a number or a sequence"),
        ({"alpha": float("inf")}, ValueError, "alpha must be a finite number"),
        ({"dtype": torch.int64}, TypeError, "dtype must be a floating-point"),
        ({"seed": -1}, ValueError, "seed must be"),
    ],
)
def test_binary_choice_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        binary_choice(**kwargs)


def test_gumbel_shocks_pass_a_kolmogorov_smirnov_test():
    from course_lib.datasets import _standard_gumbel

    draws = _standard_gumbel((20_000,), torch.Generator().manual_seed(0))
    assert draws.dtype == torch.float64 and bool(torch.isfinite(draws).all())
    assert stats.kstest(draws.numpy(), stats.gumbel_r.cdf).pvalue > 1e-3


def test_bimodal_1d_shape_dtype_and_seeding():
    sample = bimodal_1d(n=300, seed=1)
    assert sample.shape == (300,) and sample.dtype == torch.float32
    assert torch.equal(sample, bimodal_1d(n=300, seed=1))
    assert not torch.equal(sample, bimodal_1d(n=300, seed=2))
    assert torch.equal(sample, bimodal_1d(n=300, seed=1, dtype=torch.float64).float())


def test_bimodal_1d_follows_its_mixture_density():
    """Kolmogorov-Smirnov test against the mixture's distribution function (scipy)."""

    def cdf(t):
        return 0.5 * stats.norm.cdf(t, -1.0, 0.5) + 0.5 * stats.norm.cdf(t, 1.0, 0.75)

    sample = bimodal_1d(n=20_000, seed=0, dtype=torch.float64)
    assert stats.kstest(sample.numpy(), cdf).pvalue > 1e-3
