"""Tests for course_lib.conditional: encoder, heads, model, training, metrics and figures."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.metrics import r2_score as sklearn_r2  # noqa: E402
from torch.distributions import MultivariateNormal, Normal  # noqa: E402

from course_lib.conditional import (  # noqa: E402
    ConditionalDensityModel,
    ContextFlow,
    DiagonalGaussianHead,
    FlowHead,
    FullGaussianHead,
    SpectrumEncoder,
    conditional_model,
    coverage,
    evaluate,
    load_checkpoint,
    normal_fit,
    pit_histogram,
    pit_ks,
    plot_pit,
    plot_posterior_corner,
    plot_predicted_vs_true,
    plot_pulls,
    plot_residuals,
    pulls,
    r2_score,
    save_checkpoint,
    split_indices,
    train_model,
)
from course_lib.datasets import stellar_spectra  # noqa: E402

SMALL = {"channels": (4, 8), "hidden_features": 16, "embedding_features": 8}
FLOW = {"layers": 2, "hidden_features": 16}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    return stellar_spectra(300, pixels=64, seed=0, dtype=torch.float64)


def _model(head, data, seed=0):
    options = FLOW if head == "flow" else None
    return conditional_model(head, data.flux, data.labels, **SMALL, flow_options=options, seed=seed)


def _randomize(module, scale=0.3, seed=1):
    """Moves every parameter away from its (identity-like) initialization."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return module


# --- heads ---------------------------------------------------------------------------------


def test_diagonal_head_matches_independent_normals(dtype):
    head = _randomize(DiagonalGaussianHead(5, 3, seed=0).to(dtype))
    context = torch.randn(7, 5, dtype=dtype)
    y = torch.randn(7, 3, dtype=dtype)
    raw = context @ head.linear.weight.T + head.linear.bias
    loc, scale = raw[:, :3], F.softplus(raw[:, 3:]) + head.min_scale
    expected = Normal(loc, scale).log_prob(y).sum(-1)
    d = head(context)
    assert d.batch_shape == (7,) and d.event_shape == (3,)
    assert torch.allclose(d.log_prob(y), expected)
    assert d.sample((4,)).shape == (4, 7, 3)


def test_full_head_matches_multivariate_normal_from_its_covariance(dtype):
    head = _randomize(FullGaussianHead(5, 3, seed=0).to(dtype))
    context = torch.randn(6, 5, dtype=dtype)
    y = torch.randn(6, 3, dtype=dtype)
    raw = context @ head.linear.weight.T + head.linear.bias
    loc, values = raw[:, :3], raw[:, 3:]
    # Row-major lower triangle: (0,0), (1,0), (1,1), (2,0), (2,1), (2,2).
    tril = torch.zeros(6, 3, 3, dtype=dtype)
    for k, (i, j) in enumerate([(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]):
        value = values[:, k]
        tril[:, i, j] = F.softplus(value) + head.min_scale if i == j else value
    covariance = tril @ tril.mT
    expected = MultivariateNormal(loc, covariance_matrix=covariance).log_prob(y)
    d = head(context)
    assert torch.allclose(d.log_prob(y), expected, atol=1e-5 if dtype == torch.float32 else 1e-10)
    assert (d.scale_tril.diagonal(dim1=-2, dim2=-1) > 0).all()
    assert torch.equal(d.scale_tril, d.scale_tril.tril())
    assert head.outputs == 9 and DiagonalGaussianHead(5, 3).outputs == 6


def test_flow_head_shapes_and_batch_consistency(dtype):
    head = _randomize(FlowHead(4, 3, **FLOW, seed=0).to(dtype), scale=0.2)
    context = torch.randn(5, 4, dtype=dtype)
    d = head(context)
    assert isinstance(d, ContextFlow) and d.batch_shape == (5,) and d.event_shape == (3,)
    y = torch.randn(5, 3, dtype=dtype)
    assert d.log_prob(y).shape == (5,)
    assert d.sample((11,)).shape == (11, 5, 3) and d.rsample((2,)).shape == (2, 5, 3)
    assert d.log_prob(torch.randn(2, 5, 3, dtype=dtype)).shape == (2, 5)
    # Row i of a batch is the flow of context i alone, and contexts matter.
    alone = torch.stack([head(context[i : i + 1]).log_prob(y[i : i + 1])[0] for i in range(5)])
    assert torch.allclose(d.log_prob(y), alone)
    shared = head(context[:1].expand(5, 4)).log_prob(y)
    assert not torch.allclose(shared, d.log_prob(y))


@pytest.mark.parametrize("kind", ["spline", "affine"])
def test_flow_head_density_integrates_to_one_on_a_grid(kind):
    head = _randomize(FlowHead(3, 2, kind=kind, **FLOW, seed=0).double(), scale=0.2)
    context = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    step = 0.07
    axis = torch.arange(-7, 7, step, dtype=torch.float64) + step / 2
    grid = torch.cartesian_prod(axis, axis)
    log_p = head(context.expand(grid.shape[0], 3)).log_prob(grid)
    assert abs(log_p.exp().sum().item() * step**2 - 1) < 2e-3


def test_flow_head_density_integrates_to_one_in_three_dimensions():
    # Importance sampling with a wide normal proposal q: E_q[p/q] = 1.
    head = _randomize(FlowHead(3, 3, **FLOW, seed=0).double(), scale=0.2)
    context = torch.tensor([[0.3, 1.0, -0.5]], dtype=torch.float64)
    q = Normal(torch.zeros(3, dtype=torch.float64), 2.5 * torch.ones(3, dtype=torch.float64))
    x = q.sample((20_000,))
    ratio = (head(context.expand(x.shape[0], 3)).log_prob(x) - q.log_prob(x).sum(-1)).exp()
    error = ratio.std().item() / math.sqrt(x.shape[0])
    assert abs(ratio.mean().item() - 1) < 5 * error and error < 0.03


def test_heads_reject_bad_contexts():
    head = DiagonalGaussianHead(4, 3)
    with pytest.raises(ValueError, match="context must have shape"):
        head(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"context must have shape \(batch, 4\)"):
        head(torch.randn(2, 5, 4))
    with pytest.raises(TypeError, match="context must be a torch.Tensor"):
        FlowHead(4, 3, **FLOW)([[0.0] * 4])
    with pytest.raises(ValueError, match="kind must be one of"):
        FlowHead(4, 3, kind="planar")
    with pytest.raises(ValueError, match="min_scale must be a finite positive"):
        FullGaussianHead(4, 3, min_scale=0.0)


def test_encoder_shapes_and_arguments():
    encoder = SpectrumEncoder(128, embedding_features=6, channels=(4, 8), seed=0)
    assert encoder(torch.randn(3, 128)).shape == (3, 6)
    with pytest.raises(ValueError, match="too short"):
        SpectrumEncoder(16, channels=(4, 4, 4))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        SpectrumEncoder(128, kernel_size=4)
    with pytest.raises(TypeError, match="channels must be a non-empty sequence"):
        SpectrumEncoder(128, channels=8)
    with pytest.raises(ValueError, match=r"x must have shape \(\*batch, 128\)"):
        encoder(torch.randn(3, 100))


# --- model -----------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["diagonal", "full", "flow"])
def test_model_stores_its_standardizations_and_scores_physical_labels(head, data):
    model = _model(head, data)
    assert isinstance(model, ConditionalDensityModel) and model.kind == head
    assert torch.allclose(model.label_mean, data.labels.mean(0))
    assert torch.allclose(model.label_std, data.labels.std(0))
    log_flux = data.flux.clamp(min=0.2).log()
    assert torch.allclose(model.input_mean, log_flux.mean(0))
    flux, labels = data.flux[:20], data.labels[:20]
    z = (labels - model.label_mean) / model.label_std
    expected = model(flux).log_prob(z) - model.label_std.log().sum()
    assert torch.allclose(model.log_prob(flux, labels), expected)
    assert torch.allclose(model.loss(flux, labels), -model(flux).log_prob(z).mean())
    # Gradients reach every parameter.
    model.loss(flux, labels).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_gaussian_model_log_prob_in_physical_units(data):
    model = _randomize(_model("diagonal", data), scale=0.05)
    flux, labels = data.flux[:10], data.labels[:10]
    prediction = model.predict(flux)
    expected = Normal(prediction.mean, prediction.std).log_prob(labels).sum(-1)
    assert torch.allclose(model.log_prob(flux, labels), expected)


def test_untrained_flow_predicts_the_training_mean_and_std(data):
    # The flow starts as the standard normal on standardized labels.
    model = _model("flow", data)
    n = 3000
    prediction = model.predict(data.flux[:2], samples=20, summary_samples=n)
    se = model.label_std / math.sqrt(n)
    assert ((prediction.mean - model.label_mean).abs() < 5 * se).all()
    assert ((prediction.std / model.label_std - 1).abs() < 5 / math.sqrt(2 * n)).all()
    assert prediction.samples.shape == (20, 2, 3)
    pit = model.pit(data.flux[:2], data.labels[:2], samples=n)
    exact = Normal(0.0, 1.0).cdf((data.labels[:2] - model.label_mean) / model.label_std)
    assert (pit - exact).abs().max() < 5 * 0.5 / math.sqrt(n)


@pytest.mark.parametrize("head", ["diagonal", "full"])
def test_gaussian_pit_agrees_with_samples(head, data):
    model = _randomize(_model(head, data), scale=0.05)
    flux, labels = data.flux[:8], data.labels[:8]
    exact = model.pit(flux, labels)
    samples = model.predict(flux, samples=20_000).samples
    empirical = (samples <= labels).double().mean(0)
    assert (exact - empirical).abs().max() < 5 * 0.5 / math.sqrt(20_000)
    prediction = model.predict(flux)
    tolerance = float(5 * prediction.std.max() / math.sqrt(20_000))
    assert torch.allclose(samples.mean(0), prediction.mean, atol=tolerance)


@pytest.mark.parametrize("head", ["diagonal", "full", "flow"])
def test_checkpoint_round_trip_gives_identical_predictions(head, data, tmp_path):
    model = _randomize(_model(head, data, seed=3), scale=0.05)
    path = tmp_path / f"{head}.pt"
    save_checkpoint(model, path)
    loaded = load_checkpoint(path)
    assert loaded.kind == head and not loaded.training
    flux, labels = data.flux[:16], data.labels[:16]
    assert torch.equal(loaded.log_prob(flux, labels), model.log_prob(flux, labels))
    a = model.predict(flux, samples=5, summary_samples=50, seed=7)
    b = loaded.predict(flux, samples=5, summary_samples=50, seed=7)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert torch.equal(a.samples, b.samples)


def test_training_lowers_the_validation_loss(data):
    model = _model("full", data)
    train, val, _ = split_indices(len(data), (0.7, 0.2, 0.1), seed=0)
    with torch.no_grad():
        before = float(model.loss(data.flux[val], data.labels[val]))
    history = train_model(
        model,
        (data.flux[train], data.labels[train]),
        (data.flux[val], data.labels[val]),
        epochs=4,
        batch_size=32,
        lr=3e-3,
    )
    assert len(history.val_loss) == 4 and history.steps == 4 * 7
    assert history.best_val_loss < before - 0.2


def test_split_indices_partition_and_repeat():
    parts = split_indices(103, (0.8, 0.1, 0.1), seed=1)
    assert [len(p) for p in parts] == [82, 10, 11]
    assert sorted(torch.cat(parts).tolist()) == list(range(103))
    again = split_indices(103, (0.8, 0.1, 0.1), seed=1)
    assert all(torch.equal(a, b) for a, b in zip(parts, again, strict=True))
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(10, (0.5, 0.2))


def test_model_rejects_bad_inputs(data, tmp_path):
    model = _model("diagonal", data)
    with pytest.raises(ValueError, match=r"flux must have shape \(batch, 64\)"):
        model(torch.ones(2, 32, dtype=torch.float64))
    with pytest.raises(TypeError, match="flux must have the model's dtype"):
        model(torch.ones(2, 64))
    with pytest.raises(ValueError, match=r"labels must have shape \(batch, 3\)"):
        model.log_prob(data.flux[:2], data.labels[:2, :2])
    with pytest.raises(ValueError, match="labels must have one row per spectrum"):
        model.pit(data.flux[:2], data.labels[:3])
    with pytest.raises(ValueError, match="head must be one of"):
        conditional_model("mixture", data.flux, data.labels)
    with pytest.raises(ValueError, match="one row per star"):
        conditional_model("full", data.flux, data.labels[:5])
    with pytest.raises(ValueError, match="flow_options apply only"):
        conditional_model("full", data.flux, data.labels, flow_options={"layers": 2})
    with pytest.raises(TypeError, match="model must be a ConditionalDensityModel"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


# --- metrics ---------------------------------------------------------------------------------


def test_labels_drawn_from_the_prediction_are_calibrated():
    generator = torch.Generator().manual_seed(0)
    n = 20_000
    mean = torch.randn(n, 3, generator=generator, dtype=torch.float64) * 3
    std = torch.rand(n, 3, generator=generator, dtype=torch.float64) * 2 + 0.1
    true = mean + std * torch.randn(n, 3, generator=generator, dtype=torch.float64)
    values = pulls(true, mean, std)
    fitted_mean, fitted_std = normal_fit(values)
    assert (fitted_mean.abs() < 5 / math.sqrt(n)).all()
    assert ((fitted_std - 1).abs() < 5 / math.sqrt(2 * n)).all()
    pit = Normal(mean, std).cdf(true)
    covered = coverage(pit, (0.68, 0.95))
    for level, row in zip((0.68, 0.95), covered, strict=True):
        assert ((row - level).abs() < 5 * math.sqrt(level * (1 - level) / n)).all()
    shares = pit_histogram(pit, bins=10)
    assert ((shares - 0.1).abs() < 5 * math.sqrt(0.09 / n)).all()
    assert (pit_ks(pit) < 1.95 / math.sqrt(n)).all()  # the KS test's 0.1% critical value
    # Overconfident predictions (std halved): pulls too wide, coverage too low.
    narrow = pulls(true, mean, std / 2)
    assert (normal_fit(narrow)[1] > 1.9).all()
    assert (coverage(Normal(mean, std / 2).cdf(true), (0.68,)) < 0.45).all()
    assert (pit_ks(Normal(mean, std / 2).cdf(true)) > 0.1).all()


def test_metrics_against_scipy_numpy_and_sklearn():
    generator = torch.Generator().manual_seed(1)
    true = torch.randn(500, 3, generator=generator, dtype=torch.float64)
    predicted = true + 0.5 * torch.randn(500, 3, generator=generator, dtype=torch.float64)
    expected = sklearn_r2(true.numpy(), predicted.numpy(), multioutput="raw_values")
    assert np.allclose(r2_score(true, predicted).numpy(), expected)
    for j in range(3):
        loc, scale = stats.norm.fit(predicted[:, j].numpy())
        mean, std = normal_fit(predicted)
        assert math.isclose(mean[j].item(), loc) and math.isclose(std[j].item(), scale)
    pit = torch.rand(400, 2, generator=generator, dtype=torch.float64)
    for j in range(2):
        counts, _ = np.histogram(pit[:, j].numpy(), bins=8, range=(0, 1))
        assert np.allclose(pit_histogram(pit, bins=8)[:, j].numpy(), counts / 400)
    for j in range(2):
        expected = stats.kstest(pit[:, j].numpy(), "uniform").statistic
        assert math.isclose(pit_ks(pit)[j].item(), expected, rel_tol=1e-12)
    # Coverage from the PIT is coverage of the central interval of the quantiles.
    mean, std = torch.zeros(400, 2).double(), torch.ones(400, 2).double()
    normal = Normal(mean, std)
    true = torch.randn(400, 2, generator=generator, dtype=torch.float64) * 1.3
    inside = (true >= normal.icdf(torch.tensor(0.025))) & (true <= normal.icdf(torch.tensor(0.975)))
    assert torch.allclose(coverage(normal.cdf(true), (0.95,))[0], inside.double().mean(0))


def test_metrics_reject_bad_inputs():
    ones = torch.ones(4, 2)
    with pytest.raises(ValueError, match="std must be positive"):
        pulls(ones, ones, -ones)
    with pytest.raises(ValueError, match=r"mean must have the shape of true"):
        pulls(ones, torch.ones(4, 3), ones)
    with pytest.raises(ValueError, match=r"pit must lie in \[0, 1\]"):
        coverage(2 * ones)
    with pytest.raises(ValueError, match="levels must lie strictly between"):
        coverage(0.5 * ones, (0.68, 1.5))
    with pytest.raises(ValueError, match="true must vary"):
        r2_score(ones, ones)
    with pytest.raises(ValueError, match="true must be 2-D"):
        r2_score(torch.ones(4), torch.ones(4))


# --- evaluation and figures ------------------------------------------------------------------


@pytest.mark.parametrize("head", ["full", "flow"])
def test_evaluate_and_figures(head, data):
    model = _model(head, data)
    flux, labels = data.flux[:30], data.labels[:30]
    result = evaluate(model, flux, labels, samples=100)
    z = model.standardize(labels)
    assert math.isclose(result.nll, -model(flux).log_prob(z).mean().item(), rel_tol=1e-9)
    assert result.pulls.shape == result.pit.shape == (30, 3)
    assert torch.allclose(result.r2, r2_score(labels, result.prediction.mean))
    keys = {"nll", "pull_mean", "pull_std", "coverage68", "coverage95", "pit_ks", "r2"}
    assert set(result.summary()) == keys
    names = model.label_names
    assert len(plot_pulls(result.pulls, names=names)) == 3
    assert len(plot_pit(result.pit, names=names)) == 3
    axes = plot_predicted_vs_true(labels, result.prediction.mean, names=names)
    assert "R^2" in axes[0].get_title()
    assert len(plot_residuals(labels, result.prediction.mean, names=names)) == 3
    samples = model.predict(flux[:1], samples=300, summary_samples=10).samples[:, 0]
    fig = plot_posterior_corner(samples, true=data.labels[0], names=names)
    assert len([ax for ax in fig.axes if ax.axison]) == 6
    with pytest.raises(ValueError, match="names must name the 3 labels"):
        plot_pulls(result.pulls, names=["a"])


def test_cosine_schedule_decays_the_learning_rate_to_zero():
    from course_lib.conditional.training import _CosineAdam

    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = _CosineAdam([weight], lr=0.1, total=4)
    rates = []
    for _ in range(5):
        weight.grad = torch.ones(2)
        optimizer.step()
        rates.append(optimizer.param_groups[0]["lr"])
    expected = [0.05 * (1 + math.cos(math.pi * min(k / 4, 1))) for k in range(5)]
    assert rates == pytest.approx(expected) and rates[-1] == pytest.approx(0.0)


def test_train_model_rejects_bad_arguments(data):
    model = _model("diagonal", data)
    pair = (data.flux[:10], data.labels[:10])
    with pytest.raises(ValueError, match="schedule must be one of"):
        train_model(model, pair, schedule="linear")
    with pytest.raises(TypeError, match="train must be a pair"):
        train_model(model, data.flux[:10])
    with pytest.raises(TypeError, match="model must be a ConditionalDensityModel"):
        train_model(torch.nn.Linear(2, 2), pair)
    with pytest.raises(ValueError, match="lr must be a finite positive"):
        train_model(model, pair, lr=0.0)
