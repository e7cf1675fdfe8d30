"""Tests for course_lib.drift: monotonicity, normalization, inversion, derivatives, baselines."""

import math

import numpy as np
import pytest
import scipy.interpolate
import scipy.stats
import torch
from torch.distributions import Normal

from course_lib.drift import (
    BASES,
    BernsteinRegression,
    GaussianRegression,
    InterconnectedDrift,
    LocationScaleDrift,
    TensorProductDrift,
    base_distribution,
    bernstein_basis,
    cross_validate,
    diabetes,
    fit_regression,
    fold_indices,
)

DRIFT = (LocationScaleDrift, InterconnectedDrift, TensorProductDrift)
MODELS = (*DRIFT, GaussianRegression, BernsteinRegression)
FEATURES = 3
SMALL = {"hidden": 8, "outputs_per_feature": 2, "monotone_hidden": (8, 8)}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The tensors here are small: on a busy machine, torch's threads only wait for each other
    (a tenfold slowdown under load), so this module runs on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(cls, features=FEATURES, **kwargs):
    options = dict(SMALL) if cls in DRIFT else {}
    if cls is GaussianRegression:
        options = {"hidden": 8, "outputs_per_feature": 2}
    return cls(features, **options, **kwargs).double()


def simulated(n=300, seed=0):
    """Heteroscedastic, skewed responses on a raw scale far from standard (loc 50, scale 10)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=generator, dtype=torch.float64)
    noise = torch.distributions.Gamma(2.0, 1.0).sample((n,)).double() - 2.0
    y = 50 + 10 * (x[:, 0] + (0.5 + x[:, 1].abs()) * noise)
    return y, x


@pytest.fixture(scope="module")
def trained():
    """Every model, trained briefly on the simulated data (shared by the tests below)."""
    y, x = simulated()
    models = {}
    with torch.random.fork_rng():
        torch.manual_seed(1)
        for cls in MODELS:
            model = build(cls)
            fit_regression(model, y, x, lr=1e-2, epochs=10, patience=None, seed=0)
            models[cls.__name__] = model
    return models, y, x


def randomized(cls, seed, spread=3.0):
    """A model whose every free parameter is drawn wide: constraints must hold anyway."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build(cls)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.normal_(0, spread)
    return model


def models_to_check(trained):
    models, _, _ = trained
    fresh = [build(cls) for cls in MODELS]
    wild = [randomized(cls, seed) for cls in MODELS for seed in (1, 2)]
    return [*fresh, *models.values(), *wild]


# Monotonicity


def test_h_is_strictly_increasing_in_y(trained):
    grid = torch.linspace(-2000, 2000, 4001, dtype=torch.float64)
    x = 3 * torch.randn(6, FEATURES, dtype=torch.float64)
    for model in models_to_check(trained):
        for row in x:
            h, dh = model.transform_and_derivative(grid, row.expand(len(grid), -1))
            assert (h.diff() > 0).all(), type(model).__name__
            assert (dh > 0).all(), type(model).__name__


def test_tensor_product_constraint_bounds_the_derivative_below():
    # The proof in course_lib.drift.models: phi >= 0 and theta > 0 give
    # c_k(x) >= theta_k0 and dh/du >= theta_K0 (the coefficient of g_K(u) = u), for all x.
    for seed in range(4):
        model = randomized(TensorProductDrift, seed)
        x = 50 * torch.randn(500, FEATURES, dtype=torch.float64)
        u = 30 * torch.randn(500, dtype=torch.float64)
        phi = model.phi(x)
        assert (phi >= 0).all()
        theta0 = torch.nn.functional.softplus(model.raw_theta0)
        c = model.coefficients(phi)
        assert (c >= theta0 - 1e-12).all()
        assert (theta0 > 0).all()
        _, dh = model._transform(u, model._context(x))
        assert (dh >= theta0[-1] * (1 - 1e-12)).all()


def test_tensor_product_with_a_free_coefficient_can_decrease():
    # Why every coefficient of a u-dependent basis function must be constrained: a single
    # negative theta_kj makes c_k(x) < 0 for large phi_j(x), and h then decreases.
    model = build(TensorProductDrift)
    phi = torch.zeros(1, model.phi.out_features, dtype=torch.float64)
    phi[0, 0] = 1e3
    theta0 = torch.nn.functional.softplus(model.raw_theta0)
    theta = torch.nn.functional.softplus(model.raw_theta).clone()
    theta[-1, 0] = -1.0  # the coefficient of u * phi_1(x), left free
    c = theta0 + phi @ theta.T
    u = torch.linspace(-5, 5, 101, dtype=torch.float64)
    g, _ = model.g(u)
    h = (g * c).sum(-1)
    assert (h.diff() < 0).any()


def test_location_scale_shapes_are_affine_images_of_each_other(trained):
    # LS: h(y | x1) is an affine function of h(y | x2); INTER and TP are not restricted so.
    models, _, _ = trained
    y = torch.linspace(0, 100, 200, dtype=torch.float64)
    x = torch.randn(2, FEATURES, dtype=torch.float64)
    for name, affine in (("LocationScaleDrift", True), ("InterconnectedDrift", False)):
        model = models[name]
        h1 = model.transform(y, x[0].expand(200, -1)).detach().numpy()
        h2 = model.transform(y, x[1].expand(200, -1)).detach().numpy()
        residual = h1 - np.polyval(np.polyfit(h2, h1, 1), h2)
        assert (np.abs(residual).max() < 1e-8) == affine, name


def test_every_parameter_gets_a_gradient():
    # After one epoch (the zero-initialized heads have moved, so phi gets gradients too).
    y, x = simulated(64)
    for cls in MODELS:
        model = build(cls)
        fit_regression(model, y, x, epochs=1, batch_size=16)
        model.nll(y, x).backward()
        for name, parameter in model.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


# Normalization, inversion, sampling


@pytest.mark.parametrize("base", BASES)
def test_density_integrates_to_one(trained, base):
    models, _, x = trained
    grid = torch.linspace(-1000, 1100, 40_001, dtype=torch.float64)
    for model in models.values():
        model.base = base_distribution(base)
        try:
            for row in x[:3]:
                with torch.no_grad():
                    density = model.log_prob(grid, row.expand(len(grid), -1)).exp()
                total = float(torch.trapezoid(density, grid))
                assert abs(total - 1) < 1e-2, (type(model).__name__, base, total)
        finally:
            model.base = base_distribution("normal")


def test_cdf_of_quantile_is_p(trained):
    models, _, x = trained
    p = torch.tensor([1e-6, 0.01, 0.3, 0.5, 0.9, 1 - 1e-6], dtype=torch.float64)
    rows = x[:6]
    for model in models.values():
        q = model.quantile(p, rows)
        assert torch.allclose(model.cdf(q, rows), p, rtol=1e-7, atol=1e-10), type(model).__name__
    model = models["TensorProductDrift"]
    scalar = model.quantile(0.25, rows)
    assert torch.allclose(model.cdf(scalar, rows), torch.full((6,), 0.25, dtype=torch.float64))


def test_samples_follow_the_cdf(trained):
    models, _, x = trained
    row = x[:1]
    for model in models.values():
        samples = model.sample(row, 2000, seed=3)[:, 0]

        def cdf(values, model=model):
            y = torch.as_tensor(values, dtype=torch.float64)
            return model.cdf(y, row.expand(len(y), -1)).detach().numpy()

        assert scipy.stats.kstest(samples.numpy(), cdf).pvalue > 1e-3, type(model).__name__


def test_sample_shape_and_seed():
    model = build(LocationScaleDrift)
    x = torch.randn(4, FEATURES, dtype=torch.float64)
    a, b = model.sample(x, 5, seed=1), model.sample(x, 5, seed=1)
    assert a.shape == (5, 4) and torch.equal(a, b)


# Derivatives and scales


def test_log_likelihood_derivative_term_matches_autograd_and_finite_differences(trained):
    models, y, x = trained
    for model in [*models.values(), randomized(InterconnectedDrift, 5, spread=1.0)]:
        y0 = y[:20].clone().requires_grad_(True)
        h, dh = model.transform_and_derivative(y0, x[:20])
        (autograd,) = torch.autograd.grad(h.sum(), y0)
        step = 1e-4
        with torch.no_grad():
            finite = (
                model.transform(y0 + step, x[:20]) - model.transform(y0 - step, x[:20])
            ) / (2 * step)
        assert torch.allclose(dh, autograd, rtol=1e-9, atol=1e-12), type(model).__name__
        assert torch.allclose(dh, finite, rtol=1e-5, atol=1e-9), type(model).__name__
        # log_prob is exactly the base term plus the log-derivative term.
        expected = model.base.log_prob(h) + torch.log(dh)
        assert torch.allclose(model.log_prob(y0, x[:20]), expected)


def test_log_prob_is_on_the_raw_scale():
    # The same model on y and on a * y + b: log-densities differ by the Jacobian -log a.
    y, x = simulated(100)
    a, b = 7.0, -3.0
    for cls in MODELS:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            first = build(cls).fit_scaling(y, x)
            torch.manual_seed(0)
            second = build(cls).fit_scaling(a * y + b, x)
        difference = second.log_prob(a * y + b, x) - first.log_prob(y, x)
        assert torch.allclose(difference, torch.full_like(difference, -math.log(a))), cls


# Baselines against independent computations


def test_gaussian_baseline_is_a_normal_distribution(trained):
    models, y, x = trained
    model = models["GaussianRegression"]
    mean, std = model.mean_and_std(x)
    normal = Normal(mean, std)
    assert torch.allclose(model.log_prob(y, x), normal.log_prob(y))
    assert torch.allclose(model.cdf(y, x), normal.cdf(y))
    p = torch.full_like(y, 0.8)
    assert torch.allclose(model.quantile(p, x), normal.icdf(p))


def test_bernstein_baseline_matches_scipy_bpoly(trained):
    models, _, x = trained
    model = models["BernsteinRegression"]
    theta = model.coefficients().detach().numpy()
    low, high = float(model.low), float(model.high)
    polynomial = scipy.interpolate.BPoly(theta.reshape(-1, 1), [low, high])
    slope = polynomial.derivative()
    u = np.linspace(low - 2, high + 2, 301)
    inside = (u >= low) & (u <= high)
    expected = np.where(
        inside,
        polynomial(np.clip(u, low, high)),
        np.where(u < low, polynomial(low) + slope(low) * (u - low), 0)
        + np.where(u > high, polynomial(high) + slope(high) * (u - high), 0),
    )
    expected_slope = slope(np.clip(u, low, high))
    y = torch.as_tensor(float(model.y_loc) + float(model.y_scale) * u)
    rows = x[:1].expand(len(u), -1)
    shift = float((model._standardize(None, x[:1])[1] @ model.beta.detach())[0])
    h, dh = model.transform_and_derivative(y, rows)
    assert np.allclose(h.detach().numpy(), expected - shift, atol=1e-9)
    assert np.allclose(dh.detach().numpy() * float(model.y_scale), expected_slope, atol=1e-9)


def test_bernstein_basis_sums_to_one_and_matches_binomial_pmf():
    s = torch.linspace(0, 1, 11, dtype=torch.float64)
    basis = bernstein_basis(s, 10)
    assert torch.allclose(basis.sum(-1), torch.ones(11, dtype=torch.float64))
    expected = scipy.stats.binom.pmf(np.arange(11)[None, :], 10, s.numpy()[:, None])
    assert np.allclose(basis.numpy(), expected)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("normal", scipy.stats.norm),
        ("logistic", scipy.stats.logistic),
        ("min_extreme_value", scipy.stats.gumbel_l),
    ],
)
def test_bases_match_scipy(name, reference):
    base = base_distribution(name)
    z = torch.linspace(-6, 3, 50, dtype=torch.float64)
    assert np.allclose(base.log_prob(z).numpy(), reference.logpdf(z.numpy()))
    assert np.allclose(base.cdf(z).numpy(), reference.cdf(z.numpy()))
    p = torch.linspace(0.01, 0.99, 20, dtype=torch.float64)
    assert np.allclose(base.icdf(p).numpy(), reference.ppf(p.numpy()))


# Bad input


def test_bad_input_raises_clear_errors():
    model = build(LocationScaleDrift)
    y, x = simulated(10)
    bad_y = y.clone()
    bad_y[3] = float("nan")
    with pytest.raises(ValueError, match="y must contain only finite values.*index 3"):
        model.log_prob(bad_y, x)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 3\); got \(10, 4\)"):
        model.log_prob(y, torch.randn(10, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must have one row per value of y"):
        model.log_prob(y, x[:5])
    with pytest.raises(ValueError, match="y must be 1-D"):
        model.log_prob(y.unsqueeze(-1), x)
    with pytest.raises(TypeError, match="y must have the model's dtype"):
        model.log_prob(y.float(), x)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        model.log_prob(y.tolist(), x)
    with pytest.raises(ValueError, match="p must lie strictly between 0 and 1"):
        model.quantile(1.0, x)
    with pytest.raises(ValueError, match=r"one probability per row of x \(10\); got shape \(3,\)"):
        model.quantile(torch.full((3,), 0.5, dtype=torch.float64), x)
    with pytest.raises(ValueError, match="base must be one of"):
        LocationScaleDrift(3, base="cauchy")
    with pytest.raises(TypeError, match="model must be a course_lib.drift"):
        fit_regression(torch.nn.Linear(3, 1), y, x)
    with pytest.raises(ValueError, match="val_fraction must be below 1"):
        fit_regression(model, y, x, val_fraction=1.5)


# Training


def test_early_stopping_restores_the_best_epoch():
    # Controlled case: the model starts at mean 0 (no rescaling), the training data sit at
    # 4 and the validation data at 2, so the fitted mean passes the validation optimum
    # midway and the validation NLL falls, then rises.
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, FEATURES, generator=generator, dtype=torch.float64)
    y = 4 + 0.3 * torch.randn(64, generator=generator, dtype=torch.float64)
    y_val = 2 + 0.3 * torch.randn(32, generator=generator, dtype=torch.float64)
    x_val = torch.randn(32, FEATURES, generator=generator, dtype=torch.float64)
    model = build(GaussianRegression)
    history = fit_regression(
        model, y, x, validation=(y_val, x_val), scale=False, lr=0.05, epochs=60, patience=10
    )
    assert history.stopped_early
    best = history.val_loss.index(min(history.val_loss))
    assert 0 < best < len(history.val_loss) - 1
    assert history.val_loss[-1] > history.best_val_loss + 0.1
    final = float(model.nll(y_val, x_val).detach())
    assert final == pytest.approx(history.best_val_loss, abs=1e-12)
    record = model.training_record
    assert record["best_epoch"] == best + 1 and record["epochs_run"] == len(history.val_loss)


def test_training_improves_on_the_start_and_summary_counts_parameters(trained):
    models, y, x = trained
    for name, model in models.items():
        cls = type(model)
        fresh = build(cls).fit_scaling(y, x)
        with torch.no_grad():
            assert float(model.nll(y, x)) < float(fresh.nll(y, x)) - 0.05, name
        text = model.summary()
        total = sum(p.numel() for p in model.parameters())
        assert f"total: {total:,} trainable parameters" in text
        assert "Adam(lr=0.01), batch 32" in text
    assert "not trained yet" in build(TensorProductDrift).summary()


# Cross-validation


def test_folds_partition_the_rows():
    folds = fold_indices(23, 4, seed=0)
    rows = torch.cat(folds)
    assert sorted(rows.tolist()) == list(range(23))
    assert {len(f) for f in folds} <= {5, 6}
    assert all(torch.equal(a, b) for a, b in zip(folds, fold_indices(23, 4, seed=0), strict=True))
    with pytest.raises(ValueError, match="folds must be between 2 and n"):
        fold_indices(5, 6, seed=0)


def test_cross_validation_fits_scaling_on_training_folds_and_scores_test_folds():
    y, x = simulated(60)
    seen = []

    def build(features):
        model = build_small(features)
        seen.append(model)
        return model

    def build_small(features):
        return GaussianRegression(features, hidden=4, outputs_per_feature=1)

    result = cross_validate(build, y, x, folds=3, epochs=2, lr=1e-2, batch_size=16)
    folds = fold_indices(60, 3, seed=0)
    assert len(result.scores) == 3 and len(seen) == 3
    for model, test, score in zip(seen, folds, result.scores, strict=True):
        train = torch.ones(60, dtype=torch.bool)
        train[test] = False
        assert float(model.y_loc) == pytest.approx(float(y[train].mean()))
        assert torch.allclose(model.x_scale, x[train].std(dim=0))
        with torch.no_grad():
            assert score == pytest.approx(float(model.log_prob(y[test], x[test]).mean()))
    assert result.mean == pytest.approx(float(np.mean(result.scores)))
    assert result.std == pytest.approx(float(np.std(result.scores, ddof=1)))
    assert "GaussianRegression" in result.summary
    with pytest.raises(ValueError, match="scale is set by cross_validate"):
        cross_validate(build_small, y, x, folds=3, scale=False)


def test_diabetes_drops_features_with_few_levels():
    y, x, names = diabetes(dtype=torch.float64)
    assert x.shape == (442, 9) and y.shape == (442,) and "sex" not in names
    assert float(y.min()) == 25 and float(y.max()) == 346
