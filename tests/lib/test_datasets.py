"""Tests for course_lib.datasets: seeded, offline data generators."""

import inspect
import math

import pytest
import torch
from scipy import integrate, stats

from course_lib.datasets import (
    ChoiceData,
    ToyDistribution,
    bimodal_1d,
    binary_choice,
    boomerang,
    checkerboard,
    eight_gaussians,
    iris,
    pinwheel,
    true_entropy,
    two_blobs,
    two_moons,
    two_spirals,
)


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
    from course_lib.datasets.choice import _standard_gumbel

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


# Two-dimensional toy distributions ------------------------------------------------------

GENERATORS = {
    "boomerang": boomerang,
    "checkerboard": checkerboard,
    "eight_gaussians": eight_gaussians,
    "pinwheel": pinwheel,
    "two_blobs": two_blobs,
    "two_moons": two_moons,
    "two_spirals": two_spirals,
}
CLASSES = {"eight_gaussians": 8, "pinwheel": 5, "two_blobs": 2, "two_moons": 2, "two_spirals": 2}
WITH_DENSITY = sorted(set(GENERATORS) - {"pinwheel"})


def grid_integral(log_prob, box, step):
    """Integral of exp(log_prob) by the trapezoid rule on a square grid: a plain sum times
    step**2, as the integrand vanishes at the edges of the box."""
    x_lo, x_hi, y_lo, y_hi = box
    xs = torch.arange(x_lo, x_hi + step / 2, step, dtype=torch.float64)
    ys = torch.arange(y_lo, y_hi + step / 2, step, dtype=torch.float64)
    return float(log_prob(torch.cartesian_prod(xs, ys)).exp().sum()) * step**2


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_toy_generator_shape_dtype_and_seeding(name):
    generate = GENERATORS[name]
    x = generate(300, seed=1)
    assert x.shape == (300, 2) and x.dtype == torch.float32 and bool(torch.isfinite(x).all())
    assert torch.equal(x, generate(300, seed=1))
    assert not torch.equal(x, generate(300, seed=2))
    assert torch.equal(x, generate(300, seed=torch.Generator().manual_seed(1)))
    # Drawn in float64 and cast: the same data in every dtype.
    assert torch.equal(x, generate(300, seed=1, dtype=torch.float64).float())


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_toy_generator_ignores_and_keeps_the_global_generator(name):
    state = torch.random.get_rng_state()
    x = GENERATORS[name](50, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    torch.rand(10)
    assert torch.equal(GENERATORS[name](50, seed=3), x)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_toy_generator_labels_are_the_components(name):
    generate = GENERATORS[name]
    x, labels = generate(4000, seed=0, return_labels=True)
    assert torch.equal(x, generate(4000, seed=0))  # asking for labels changes no draw
    assert labels.shape == (4000,) and labels.dtype == torch.int64
    counts = labels.bincount(minlength=CLASSES[name])
    assert counts.numel() == CLASSES[name]
    # Components are picked uniformly: a chi-square test of the counts.
    assert stats.chisquare(counts.numpy()).pvalue > 1e-3


@pytest.mark.parametrize(
    ("generate", "kwargs", "error", "match"),
    [
        (two_moons, {"n": 0}, ValueError, "n must be a positive integer"),
        (checkerboard, {"n": -5}, ValueError, "n must be a positive integer"),
        (boomerang, {"n": 2.5}, TypeError, "n must be a positive integer"),
        (two_moons, {"noise": -0.1}, ValueError, "noise must be a finite positive"),
        (two_moons, {"noise": 0.0}, ValueError, "noise must be a finite positive"),
        (two_spirals, {"noise": float("nan")}, ValueError, "noise must be a finite positive"),
        (two_spirals, {"noise": "0.1"}, TypeError, "noise must be a positive number"),
        (eight_gaussians, {"radius": 0.0}, ValueError, "radius must be"),
        (eight_gaussians, {"std": -1.0}, ValueError, "std must be"),
        (two_blobs, {"dtype": torch.int64}, TypeError, "dtype must be a floating-point"),
        (pinwheel, {"seed": -1}, ValueError, "seed must be"),
        (two_moons, {"return_labels": "yes"}, TypeError, "return_labels must be"),
    ],
)
def test_toy_generator_rejects_bad_arguments(generate, kwargs, error, match):
    with pytest.raises(error, match=match):
        generate(**kwargs)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_toy_distribution_defaults_are_the_generator_defaults(name):
    signature = inspect.signature(GENERATORS[name])
    defaults = {
        key: parameter.default
        for key, parameter in signature.parameters.items()
        if key not in {"n", "seed", "dtype", "return_labels"}
    }
    assert ToyDistribution(name).params == defaults


@pytest.mark.parametrize(
    ("name", "params", "box", "step"),
    [
        ("two_moons", {"noise": 0.05}, (-1.5, 2.5, -1.0, 1.5), 0.025),
        ("two_moons", {"noise": 0.4}, (-5.0, 6.0, -4.5, 5.5), 0.2),
        ("two_blobs", {}, (-9.0, 9.0, -7.0, 7.0), 0.25),
        ("eight_gaussians", {}, (-6.0, 6.0, -6.0, 6.0), 0.1),
        ("eight_gaussians", {"radius": 1.0, "std": 0.5}, (-7.0, 7.0, -7.0, 7.0), 0.2),
        # x2 ~ N(0.5, 3.7^2) within 5.5 standard deviations; x1 around 0.25 x2^2 <= 110.
        ("boomerang", {}, (-8.0, 112.0, -20.0, 21.0), 0.1),
        ("two_spirals", {"noise": 0.1}, (-4.4, 4.4, -4.4, 4.4), 0.08),
    ],
)
def test_toy_density_integrates_to_one(name, params, box, step):
    """Trapezoid rule on a grid: spectrally accurate for these Gaussian-smoothed densities."""
    target = ToyDistribution(name, **params)
    assert abs(grid_integral(target.log_prob, box, step) - 1) < 1e-5


def test_checkerboard_density_integrates_to_one_by_the_midpoint_rule():
    step = 0.02  # midpoints never fall on the edges of the squares
    centres = torch.arange(-3 + step / 2, 3, step, dtype=torch.float64)
    grid = torch.cartesian_prod(centres, centres)
    log_p = ToyDistribution("checkerboard").log_prob(grid)
    assert abs(float(log_p.exp().sum()) * step**2 - 1) < 1e-12
    assert set(log_p.unique().tolist()) == {-math.inf, -math.log(8)}


def _moon_density_by_scipy(point, noise):
    """Independent source: the two arc integrals by adaptive quadrature (scipy)."""

    def integrand(t, centre, sign):
        dx = point[0] - centre[0] - sign * math.cos(t)
        dy = point[1] - centre[1] - sign * math.sin(t)
        return math.exp(-(dx * dx + dy * dy) / (2 * noise**2)) / (2 * math.pi * noise**2)

    total = 0.0
    for centre, sign in (((0.0, 0.0), 1.0), ((1.0, 0.5), -1.0)):
        value, _ = integrate.quad(
            integrand, 0, math.pi, args=(centre, sign), epsabs=0, epsrel=1e-12, limit=500
        )
        total += value / math.pi / 2
    return total


@pytest.mark.parametrize("noise", [0.05, 0.3])
def test_two_moons_log_prob_matches_adaptive_quadrature(noise):
    points = [(1.0, 0.0), (0.0, 1.0), (-0.98, 0.03), (0.5, 0.25), (2.03, 0.46), (0.7, 0.7)]
    log_p = ToyDistribution("two_moons", noise=noise).log_prob(
        torch.tensor(points, dtype=torch.float64)
    )
    for point, value in zip(points, log_p.tolist(), strict=True):
        assert value == pytest.approx(math.log(_moon_density_by_scipy(point, noise)), abs=1e-9)


def _normal_interval(lower, upper):
    """P(lower < Z < upper) for standard normal Z, from the tail that keeps its accuracy."""
    if lower > 0:
        return 0.5 * (math.erfc(lower / math.sqrt(2)) - math.erfc(upper / math.sqrt(2)))
    return 0.5 * (math.erfc(-upper / math.sqrt(2)) - math.erfc(-lower / math.sqrt(2)))


def test_two_spirals_log_prob_matches_adaptive_quadrature():
    """Independent source: scipy's quad over t of the jitter-square-times-Gaussian kernel."""
    noise, side = 0.1, 0.5 / 3
    points = [(0.0, 0.0), (0.3, 0.02), (-1.0, 1.5), (2.0, -2.0), (0.0843, -3.5598)]

    def integrand(t, point, sign):
        corner = (-sign * t * math.cos(t) / 3, sign * t * math.sin(t) / 3)
        corner = corner if sign > 0 else (corner[0] - side, corner[1] - side)
        mass = 1.0
        for j in range(2):
            # The point minus noise lands in [corner, corner + side].
            mass *= _normal_interval(
                (point[j] - corner[j] - side) / noise, (point[j] - corner[j]) / noise
            )
        return mass / side**2 * 2 * t / (3 * math.pi) ** 2

    log_p = ToyDistribution("two_spirals", noise=noise).log_prob(
        torch.tensor(points, dtype=torch.float64)
    )
    for point, value in zip(points, log_p.tolist(), strict=True):
        density = sum(
            integrate.quad(
                integrand, 0, 3 * math.pi, args=(point, sign), epsabs=0, epsrel=1e-10, limit=500
            )[0]
            for sign in (1.0, -1.0)
        )
        assert value == pytest.approx(math.log(density / 2), abs=1e-7)


def test_toy_densities_have_their_symmetries():
    x = 3 * torch.rand(500, 2, dtype=torch.float64) - 1
    moons = ToyDistribution("two_moons").log_prob
    shift = torch.tensor([1.0, 0.5], dtype=torch.float64)
    # The lower moon is the upper one reflected through (0.5, 0.25).
    assert torch.allclose(moons(x), moons(shift - x), atol=1e-9)
    spirals = ToyDistribution("two_spirals").log_prob
    assert torch.allclose(spirals(x), spirals(-x), atol=1e-9)
    gaussians = ToyDistribution("eight_gaussians").log_prob
    angle = math.pi / 4
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
        dtype=torch.float64,
    )
    assert torch.allclose(gaussians(x), gaussians(x @ rotation.T), atol=1e-9)


@pytest.mark.parametrize("name", WITH_DENSITY)
def test_toy_samples_score_the_true_entropy(name):
    """The mean log-density of n samples estimates -H within a few standard errors."""
    n = 10_000 if name == "two_spirals" else 20_000  # the spirals' density is the slowest
    x = GENERATORS[name](n, seed=11, dtype=torch.float64)
    log_p = ToyDistribution(name).log_prob(x)
    assert bool(torch.isfinite(log_p).all())
    entropy = true_entropy(name)
    error = float(log_p.std()) / math.sqrt(n)
    assert abs(-float(log_p.mean()) - entropy) < 4 * error + 1e-12


@pytest.mark.parametrize("name", sorted(set(WITH_DENSITY) - {"checkerboard"}))
def test_toy_log_prob_gradients_match_finite_differences(name):
    """Autograd through the quadratures, checked by torch.autograd.gradcheck (float64)."""
    target = ToyDistribution(name, dtype=torch.float64)
    x = torch.cat([target.sample((4,)), torch.tensor([[4.0, -4.0]], dtype=torch.float64)])
    assert torch.autograd.gradcheck(target.log_prob, (x.requires_grad_(),), atol=1e-6)


def _grid_chi_square(name, box, cell, sub, n, seed):
    """Counts of n samples in grid cells against the cell probabilities from the density."""
    x_lo, x_hi, y_lo, y_hi = box
    x_edges = torch.arange(x_lo, x_hi + cell / 2, cell, dtype=torch.float64)
    y_edges = torch.arange(y_lo, y_hi + cell / 2, cell, dtype=torch.float64)
    # Cell probabilities: midpoint rule with sub x sub points per cell.
    offsets = (torch.arange(sub, dtype=torch.float64) + 0.5) * (cell / sub)
    xs = (x_edges[:-1, None] + offsets).reshape(-1)
    ys = (y_edges[:-1, None] + offsets).reshape(-1)
    density = ToyDistribution(name).log_prob(torch.cartesian_prod(xs, ys)).exp()
    density = density.reshape(len(x_edges) - 1, sub, len(y_edges) - 1, sub)
    probability = density.sum(dim=(1, 3)).reshape(-1) * (cell / sub) ** 2
    x = GENERATORS[name](n, seed=seed, dtype=torch.float64)
    i = torch.bucketize(x[:, 0].contiguous(), x_edges) - 1
    j = torch.bucketize(x[:, 1].contiguous(), y_edges) - 1
    inside = (i >= 0) & (i < len(x_edges) - 1) & (j >= 0) & (j < len(y_edges) - 1)
    index = i[inside] * (len(y_edges) - 1) + j[inside]
    observed = torch.bincount(index, minlength=probability.numel()).double()
    expected = n * probability
    # Cells expecting fewer than 5 points are pooled, together with the outside.
    small = expected < 5
    observed = torch.cat([observed[~small], (n - observed[~small].sum()).reshape(1)])
    expected = torch.cat([expected[~small], (n - expected[~small].sum()).reshape(1)])
    return stats.chisquare(observed.numpy(), expected.numpy()).pvalue


@pytest.mark.parametrize(
    ("name", "box", "cell", "sub"),
    [
        ("two_moons", (-1.5, 2.5, -1.0, 1.5), 0.25, 20),
        ("eight_gaussians", (-4.5, 4.5, -4.5, 4.5), 0.5, 8),
        ("two_spirals", (-4.0, 4.0, -4.0, 4.0), 0.5, 5),
    ],
)
def test_toy_samples_follow_their_density_on_a_grid(name, box, cell, sub):
    assert _grid_chi_square(name, box, cell, sub, n=20_000, seed=5) > 1e-3


def test_boomerang_marginal_and_conditional_are_the_stated_gaussians():
    x = boomerang(20_000, seed=0, dtype=torch.float64).numpy()
    # Column 1 is x2 ~ N(0.5, 3.7^2); column 0 is x1 = 0.25 x2^2 + N(0, 1).
    assert stats.kstest(x[:, 1], stats.norm(0.5, 3.7).cdf).pvalue > 1e-3
    assert stats.kstest(x[:, 0] - 0.25 * x[:, 1] ** 2, stats.norm.cdf).pvalue > 1e-3


def test_checkerboard_is_uniform_on_the_dark_squares():
    x = checkerboard(16_000, seed=0, dtype=torch.float64)
    cell = torch.floor(x) + 2
    assert bool(((cell >= 0) & (cell <= 3)).all()) and bool((cell.sum(1) % 2 == 0).all())
    counts = torch.bincount((cell[:, 0] * 4 + cell[:, 1]).long(), minlength=16)
    dark = counts[counts > 0]
    assert dark.numel() == 8 and stats.chisquare(dark.numpy()).pvalue > 1e-3
    offsets = (x - torch.floor(x)).numpy()
    for column in range(2):
        assert stats.kstest(offsets[:, column], stats.uniform.cdf).pvalue > 1e-3


def test_analytic_entropies_match_their_formulas():
    def normal(mean, std):
        return torch.distributions.Normal(
            torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64)
        )

    boomerang_entropy = normal(0.5, 3.7).entropy() + normal(0.0, 1.0).entropy()
    assert true_entropy("boomerang") == pytest.approx(float(boomerang_entropy), abs=1e-12)
    assert true_entropy("checkerboard") == pytest.approx(math.log(8), abs=1e-15)


def test_two_blobs_entropy_matches_a_one_dimensional_quadrature():
    """Identity covariances: H = H(1-D mixture in x1) + H(N(0, 1)); the first by scipy."""

    def mixture(t):
        return 0.5 * stats.norm.pdf(t, -2.0, 1.0) + 0.5 * stats.norm.pdf(t, 2.0, 1.0)

    h1, _ = integrate.quad(lambda t: -mixture(t) * math.log(mixture(t)), -14, 14, epsabs=1e-13)
    expected = h1 + 0.5 * math.log(2 * math.pi * math.e)
    assert true_entropy("two_blobs") == pytest.approx(expected, abs=1e-9)


def test_eight_gaussians_entropy_is_between_its_bounds_and_tends_to_the_upper_one():
    """H(N) <= H(mixture) <= log 8 + H(N), with equality on the right for far-apart components."""
    for radius, std in ((2 * math.sqrt(2), math.sqrt(2) / 4), (1.0, 0.5)):
        component = math.log(2 * math.pi * math.e * std**2)
        entropy = true_entropy("eight_gaussians", radius=radius, std=std)
        assert component < entropy < math.log(8) + component
    component = math.log(2 * math.pi * math.e * 0.1**2)
    far_apart = true_entropy("eight_gaussians", radius=20.0, std=0.1)
    assert far_apart == pytest.approx(math.log(8) + component, abs=1e-9)


def test_two_moons_entropy_grows_like_the_log_of_the_noise():
    """Doubling a small noise adds about log 2 (the across-arc Gaussian's entropy)."""
    gain = true_entropy("two_moons", noise=0.1) - true_entropy("two_moons", noise=0.05)
    assert gain == pytest.approx(math.log(2), abs=0.05)


def test_true_entropy_is_cached_and_takes_the_default_parameters():
    assert true_entropy("two_moons") == true_entropy("two_moons", noise=0.05)
    assert isinstance(true_entropy("two_spirals"), float)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("three_moons",), {}, ValueError, "name must be one of"),
        (("pinwheel",), {}, ValueError, "name 'pinwheel' has no exact density"),
        (("two_moons",), {"radius": 1.0}, TypeError, "two_moons has no parameter 'radius'"),
        (("boomerang",), {"noise": 1.0}, TypeError, "parameters are: none"),
        (("two_moons",), {"noise": -1.0}, ValueError, "noise must be a finite positive"),
        (("two_moons",), {"noise": 0.001}, ValueError, "noise must be at least 0.01"),
        (("two_spirals",), {"noise": 0.01}, ValueError, "noise must be at least 0.05"),
    ],
)
def test_true_entropy_rejects_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        true_entropy(*args, **kwargs)


def test_toy_distribution_is_a_torch_distribution():
    target = ToyDistribution("two_moons", noise=0.1, dtype=torch.float64)
    assert isinstance(target, torch.distributions.Distribution)
    assert target.batch_shape == () and target.event_shape == (2,)
    assert repr(target) == "ToyDistribution('two_moons', noise=0.1)"
    x = target.sample((3, 5))
    assert x.shape == (3, 5, 2) and x.dtype == torch.float64
    assert target.log_prob(x).shape == (3, 5)
    assert target.sample(torch.Size([0])).shape == (0, 2)
    entropy = target.entropy()
    assert entropy.dtype == torch.float64
    assert float(entropy) == true_entropy("two_moons", noise=0.1)


def test_toy_distribution_samples_repeat_under_the_global_seed():
    target = ToyDistribution("eight_gaussians")
    torch.manual_seed(4)
    a = target.sample((100,))
    torch.manual_seed(4)
    assert torch.equal(a, target.sample((100,)))
    assert not torch.equal(a, target.sample((100,)))


def test_toy_distribution_log_prob_follows_the_input(device):
    target = ToyDistribution("two_moons")
    x = torch.tensor([[1.0, 0.0], [0.5, 0.25]], device=device)
    log_p = target.log_prob(x)
    assert log_p.dtype == torch.float32 and log_p.device == x.device
    expected = target.log_prob(x.double().cpu())
    assert torch.allclose(log_p.double().cpu(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (torch.zeros(4, 3), ValueError, r"value must have shape \(\*, 2\)"),
        (torch.zeros(()), ValueError, r"value must have shape \(\*, 2\)"),
        (torch.tensor([[0.0, float("nan")]]), ValueError, "value must contain only finite"),
        (torch.zeros(4, 2, dtype=torch.int64), TypeError, "value must"),
        ([[0.0, 0.0]], TypeError, "value must be a torch.Tensor"),
    ],
)
def test_toy_distribution_log_prob_rejects_bad_values(value, error, match):
    with pytest.raises(error, match=match):
        ToyDistribution("two_blobs").log_prob(value)


def test_toy_distribution_rejects_bad_construction():
    with pytest.raises(ValueError, match="name must be one of"):
        ToyDistribution("moons")
    with pytest.raises(TypeError, match="has no parameter 'sigma'"):
        ToyDistribution("two_moons", sigma=0.1)
    with pytest.raises(TypeError, match="dtype must be a floating-point"):
        ToyDistribution("two_moons", dtype=torch.int32)


def test_pinwheel_samples_but_has_no_density():
    target = ToyDistribution("pinwheel")
    assert target.sample((10,)).shape == (10, 2)
    with pytest.raises(NotImplementedError, match="pinwheel"):
        target.log_prob(torch.zeros(1, 2))
    with pytest.raises(NotImplementedError, match="pinwheel"):
        target.entropy()


def test_generators_follow_their_documented_draws():
    """Redo the documented process, draw by draw, on a generator seeded alike."""
    generator = torch.Generator().manual_seed(8)
    arm = torch.randint(0, 5, (500,), generator=generator)
    eps = torch.randn(500, 2, generator=generator, dtype=torch.float64)
    f1, f2 = 1 + 0.3 * eps[:, 0], 0.1 * eps[:, 1]
    a = 2 * math.pi * arm / 5 + 0.25 * f1.exp()
    expected = 2 * torch.stack([f1 * a.cos() + f2 * a.sin(), f2 * a.cos() - f1 * a.sin()], 1)
    x, labels = pinwheel(500, seed=8, dtype=torch.float64, return_labels=True)
    assert torch.equal(labels, arm) and torch.allclose(x, expected, rtol=0, atol=1e-12)

    generator = torch.Generator().manual_seed(9)
    moon = torch.randint(0, 2, (500,), generator=generator)
    t = math.pi * torch.rand(500, generator=generator, dtype=torch.float64)
    eps = torch.randn(500, 2, generator=generator, dtype=torch.float64)
    upper = torch.stack([t.cos(), t.sin()], 1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)
    expected = torch.where(moon[:, None] == 0, upper, lower) + 0.2 * eps
    x, labels = two_moons(500, noise=0.2, seed=9, dtype=torch.float64, return_labels=True)
    assert torch.equal(labels, moon) and torch.allclose(x, expected, rtol=0, atol=1e-12)


def test_iris_loads_the_bundled_data():
    from sklearn.datasets import load_iris

    x, labels = iris()
    assert x.shape == (150, 2) and x.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.bincount().tolist() == [50, 50, 50]
    reference = torch.as_tensor(load_iris().data, dtype=torch.float32)
    assert torch.equal(x, reference[:, [2, 3]])  # petal length and petal width


def test_iris_features_by_name_or_index():
    by_name, _ = iris(features=["Sepal_Width", "petal length (cm)"], dtype=torch.float64)
    by_index, _ = iris(features=(1, 2), dtype=torch.float64)
    assert by_name.shape == (150, 2) and torch.equal(by_name, by_index)
    single, _ = iris(features="sepal length")
    assert single.shape == (150, 1)
    everything, _ = iris(features=range(4))
    assert everything.shape == (150, 4)


def test_iris_standardizes_on_request():
    x, _ = iris(standardize=True, dtype=torch.float64)
    assert torch.allclose(x.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"features": ["petal area"]}, ValueError, "features: unknown iris feature"),
        ({"features": [4]}, ValueError, "features: index 4 is out of range"),
        ({"features": []}, ValueError, "features must name at least one"),
        ({"features": [2, "petal length"]}, ValueError, "features must not repeat"),
        ({"features": [True]}, TypeError, "features must hold names"),
        ({"features": 2.5}, TypeError, "features must be a sequence"),
        ({"standardize": 1}, TypeError, "standardize must be True or False"),
        ({"dtype": torch.int64}, TypeError, "dtype must be a floating-point"),
    ],
)
def test_iris_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        iris(**kwargs)
