"""Tests for course_lib.transport: Sinkhorn vs geomloss, 1-D closed forms, pushforward fits."""

import math

import pytest
import scipy.stats
import torch
from geomloss import SamplesLoss

from course_lib.datasets import bimodal_1d
from course_lib.transport import (
    PushforwardGenerator,
    entropic_ot,
    fit_pushforward,
    log_sinkhorn,
    sample_divergence,
    sinkhorn_divergence,
    squared_distance_cost,
    wasserstein1_1d,
    wasserstein2_1d,
)

# geomloss converges as its blur shrinks more slowly; at 0.995 its values are within ~3e-4
# of the converged ones on these clouds.
GEOMLOSS_SCALING = 0.995
SIZES = [(8, 12, 1), (60, 50, 2), (90, 70, 3)]
BLURS = [0.05, 0.2, 1.0]


def clouds(n, m, features, *, device, dtype, seed=0):
    """Two clouds that differ in location and spread, drawn in float64 on a CPU generator."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=generator, dtype=torch.float64)
    y = 0.7 * torch.randn(m, features, generator=generator, dtype=torch.float64) + 0.5
    return x.to(device, dtype), y.to(device, dtype)


def geomloss_value(x, y, blur, *, debias=True, a=None, b=None, scaling=GEOMLOSS_SCALING):
    loss = SamplesLoss(
        "sinkhorn", p=2, blur=blur, debias=debias, scaling=scaling, backend="tensorized"
    )
    return loss(x, y) if a is None else loss(a, x, b, y)


@pytest.mark.parametrize("blur", BLURS)
@pytest.mark.parametrize("n, m, features", SIZES)
def test_sinkhorn_divergence_matches_geomloss(n, m, features, blur, device, dtype):
    x, y = clouds(n, m, features, device=device, dtype=dtype)
    ours = sinkhorn_divergence(x, y, blur=blur)
    assert ours.shape == () and ours.dtype == dtype and ours.device.type == device.type
    assert float(ours) == pytest.approx(float(geomloss_value(x, y, blur)), abs=1e-3)


@pytest.mark.parametrize("blur", [0.1, 0.5])
def test_entropic_ot_matches_geomloss_without_debiasing_and_with_weights(blur, device, dtype):
    x, y = clouds(30, 20, 2, device=device, dtype=dtype, seed=1)
    generator = torch.Generator().manual_seed(2)
    a = torch.rand(30, generator=generator, dtype=torch.float64) + 0.1
    b = torch.rand(20, generator=generator, dtype=torch.float64) + 0.1
    a, b = (a / a.sum()).to(device, dtype), (b / b.sum()).to(device, dtype)
    ours = entropic_ot(x, y, blur=blur, a=a, b=b)
    reference = geomloss_value(x, y, blur, debias=False, a=a, b=b)
    assert float(ours) == pytest.approx(float(reference), abs=1e-3)
    weighted = sinkhorn_divergence(x, y, blur=blur, a=a, b=b)
    assert float(weighted) == pytest.approx(float(geomloss_value(x, y, blur, a=a, b=b)), abs=1e-3)


def test_sinkhorn_divergence_gradient_matches_finite_differences_and_geomloss(device):
    # The gradient comes from one last update at fixed potentials (the envelope theorem):
    # check it against central differences of the converged value, in float64.
    x, y = clouds(20, 15, 2, device=device, dtype=torch.float64, seed=3)
    options = {"blur": 0.2, "tolerance": 1e-12}
    x = x.requires_grad_(True)
    sinkhorn_divergence(x, y, **options).backward()
    step = 1e-5
    for index in [(0, 0), (7, 1), (19, 0)]:
        shift = torch.zeros_like(x)
        shift[index] = step
        with torch.no_grad():
            plus = sinkhorn_divergence(x + shift, y, **options)
            minus = sinkhorn_divergence(x - shift, y, **options)
        assert float(x.grad[index]) == pytest.approx(float(plus - minus) / (2 * step), abs=1e-7)
    theirs = x.detach().clone().requires_grad_(True)
    # geomloss' gradient converges more slowly than its value as scaling -> 1.
    geomloss_value(theirs, y, 0.2, scaling=0.9995).backward()
    torch.testing.assert_close(x.grad, theirs.grad, atol=5e-4, rtol=0)


def test_sinkhorn_divergence_is_zero_for_identical_clouds(device, dtype):
    x, _ = clouds(50, 1, 2, device=device, dtype=dtype)
    assert abs(float(sinkhorn_divergence(x, x.clone(), blur=0.05))) < 1e-5
    # The raw entropic cost is not: the entropy term is positive (the "bias").
    assert float(entropic_ot(x, x.clone(), blur=0.5)) > 1e-2


def test_sinkhorn_divergence_is_symmetric_and_positive(device, dtype):
    x, y = clouds(40, 25, 2, device=device, dtype=dtype, seed=4)
    forward, backward = sinkhorn_divergence(x, y, blur=0.1), sinkhorn_divergence(y, x, blur=0.1)
    assert float(forward) == pytest.approx(float(backward), abs=1e-5)
    assert float(forward) > 0.1


def test_log_sinkhorn_plan_has_the_prescribed_marginals(dtype):
    x, y = clouds(20, 15, 2, device="cpu", dtype=torch.float64, seed=5)
    cost = squared_distance_cost(x, y)
    log_a = torch.full((20,), 1 / 20, dtype=torch.float64).log()
    log_b = torch.full((15,), 1 / 15, dtype=torch.float64).log()
    epsilon = 0.01
    f, g, iterations = log_sinkhorn(cost, log_a, log_b, epsilon, tolerance=1e-9)
    plan = (log_a[:, None] + log_b[None, :] + (f[:, None] + g[None, :] - cost) / epsilon).exp()
    torch.testing.assert_close(plan.sum(1), log_a.exp(), atol=1e-8, rtol=0)
    torch.testing.assert_close(plan.sum(0), log_b.exp(), atol=1e-10, rtol=0)
    # Primal and dual values agree at the optimum: <P, C> + eps KL(P | a x b) = <a, f> + <b, g>.
    primal = (plan * cost).sum() + epsilon * (
        plan * (plan / (log_a[:, None] + log_b).exp()).log()
    ).sum()
    dual = (log_a.exp() * f).sum() + (log_b.exp() * g).sum()
    assert float(primal) == pytest.approx(float(dual), abs=1e-8)
    # Epsilon-scaling reaches the same optimum in fewer iterations.
    *_, plain = log_sinkhorn(cost, log_a, log_b, epsilon, scaling=None, tolerance=1e-9)
    assert iterations < plain


def test_one_dimensional_divergence_tends_to_half_squared_w2(dtype):
    x, y = clouds(40, 30, 1, device="cpu", dtype=torch.float64, seed=6)
    half_w2 = float(wasserstein2_1d(x, y)) ** 2 / 2
    errors = [
        abs(float(sinkhorn_divergence(x, y, blur=blur)) - half_w2)
        for blur in (0.4, 0.2, 0.1, 0.05, 0.02)
    ]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 2e-4 < errors[0]


def test_wasserstein1_matches_scipy(device, dtype):
    x, y = clouds(37, 23, 1, device=device, dtype=dtype, seed=7)
    expected = scipy.stats.wasserstein_distance(
        x.cpu().double().flatten(), y.cpu().double().flatten()
    )
    assert float(wasserstein1_1d(x, y)) == pytest.approx(expected, rel=1e-5)
    assert float(wasserstein1_1d(x[:, 0], y[:, 0])) == pytest.approx(expected, rel=1e-5)


def test_wasserstein2_with_unequal_sizes_equals_the_sorted_formula_on_replicated_samples(
    device, dtype
):
    x, y = clouds(6, 4, 1, device=device, dtype=dtype, seed=8)
    # Each point of x repeated 4 times and of y 6 times: same distributions, equal sizes.
    x_rep, y_rep = x.repeat_interleave(4), y.repeat_interleave(6)
    sorted_formula = (x_rep.sort().values - y_rep.sort().values).square().mean().sqrt()
    assert float(wasserstein2_1d(x, y)) == pytest.approx(float(sorted_formula), rel=1e-5)


def normal_quantiles(n, mean, std, *, device, dtype):
    """n points at the mid-quantiles of N(mean, std^2): a sample with no sampling noise."""
    levels = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return (mean + std * math.sqrt(2) * torch.erfinv(2 * levels - 1)).to(device, dtype)


@pytest.mark.parametrize("m1, s1, m2, s2", [(0.0, 1.0, 2.0, 1.0), (-1.0, 0.5, 1.5, 2.0)])
def test_closed_forms_match_the_gaussian_values(m1, s1, m2, s2, device, dtype):
    x = normal_quantiles(4000, m1, s1, device=device, dtype=dtype)
    y = normal_quantiles(3000, m2, s2, device=device, dtype=dtype)
    expected_w2 = math.sqrt((m1 - m2) ** 2 + (s1 - s2) ** 2)
    assert float(wasserstein2_1d(x, y)) == pytest.approx(expected_w2, abs=5e-3)
    if s1 == s2:  # a pure shift: W1 is the shift
        assert float(wasserstein1_1d(x, y)) == pytest.approx(abs(m1 - m2), abs=1e-3)


def bad_inputs(dtype):
    x = torch.zeros(5, 2, dtype=dtype)
    nan = x.clone()
    nan[1, 0] = float("nan")
    return [
        ((x, torch.zeros(5, 3, dtype=dtype)), {}, ValueError, "same number of features"),
        ((x, torch.zeros(0, 2, dtype=dtype)), {}, ValueError, "y must hold at least one point"),
        ((nan, x), {}, ValueError, "x must contain only finite values"),
        ((x, torch.zeros(5, 2, dtype=torch.int64)), {}, TypeError, "y must have a floating"),
        ((x, x.to(torch.float16)), {}, TypeError, "y must have the dtype of x"),
        ((x[:, 0], x), {}, ValueError, "x must be 2-D"),
        (([[0.0]], x), {}, TypeError, "x must be a torch.Tensor"),
        ((x, x), {"blur": 0.0}, ValueError, "blur must be a finite positive"),
        ((x, x), {"blur": float("nan")}, ValueError, "blur must be a finite positive"),
        ((x, x), {"blur": "0.05"}, TypeError, "blur must be a positive number"),
        ((x, x), {"a": torch.full((5,), 0.3, dtype=dtype)}, ValueError, "a must sum to 1"),
        (
            (x, x),
            {"b": torch.full((4,), 0.25, dtype=dtype)},
            ValueError,
            r"b must have shape \(5,\)",
        ),
        ((x, x), {"scaling": 1.5}, ValueError, "scaling must lie in"),
    ]


@pytest.mark.parametrize("function", [sinkhorn_divergence, entropic_ot])
def test_bad_inputs_raise_clear_errors(function, dtype):
    for args, kwargs, error, message in bad_inputs(dtype):
        with pytest.raises(error, match=message):
            function(*args, **kwargs)


def test_closed_forms_reject_bad_samples(dtype):
    x = torch.zeros(4, dtype=dtype)
    for function in (wasserstein1_1d, wasserstein2_1d):
        with pytest.raises(ValueError, match="one-dimensional sample"):
            function(torch.zeros(4, 2, dtype=dtype), x)
        with pytest.raises(ValueError, match="at least one point"):
            function(x, torch.zeros(0, dtype=dtype))
        with pytest.raises(ValueError, match="finite"):
            function(x, torch.tensor([0.0, float("inf")], dtype=dtype))
        with pytest.raises(TypeError, match="dtype of x"):
            function(x, x.to(torch.float16))


def test_sample_divergences_are_zero_on_equal_clouds_and_check_their_arguments(device, dtype):
    x, y = clouds(50, 40, 2, device=device, dtype=dtype, seed=9)
    for kind in ("sinkhorn", "energy", "gaussian"):
        divergence = sample_divergence(kind, blur=0.5)
        assert abs(float(divergence(x, x))) < 1e-4, kind
        assert float(divergence(x, y)) > 1e-3, kind
    assert float(sample_divergence("sinkhorn", blur=0.2, scaling=0.999)(x, y)) == pytest.approx(
        float(sinkhorn_divergence(x, y, blur=0.2)), abs=1e-3
    )
    with pytest.raises(ValueError, match="kind must be one of"):
        sample_divergence("wasserstein")
    with pytest.raises(ValueError, match="same number of features"):
        sample_divergence("energy")(x, y[:, :1])


def test_generator_samples_repeat_with_a_seed_and_follow_device_and_dtype(device, dtype):
    model = PushforwardGenerator(2, base_features=3, hidden_features=8, seed=0).to(device, dtype)
    first = model.sample(6, generator=torch.Generator().manual_seed(1))
    again = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert first.shape == (6, 2) and first.dtype == dtype and first.device.type == device.type
    assert torch.equal(first, again) and not first.requires_grad
    assert model.rsample(4).requires_grad
    twin = PushforwardGenerator(2, base_features=3, hidden_features=8, seed=0).to(device, dtype)
    assert torch.equal(twin.sample(6, generator=torch.Generator().manual_seed(1)), first)
    with pytest.raises(ValueError, match=r"z must have shape \(\*, 3\)"):
        model(torch.zeros(4, 2, device=device, dtype=dtype))


def test_fit_pushforward_reaches_the_bimodal_target_on_fresh_samples():
    # The 1-D mixture 0.5 N(-1, 0.5^2) + 0.5 N(1, 0.75^2); a few seconds on one thread.
    data = bimodal_1d(4000, seed=0).unsqueeze(-1)
    fresh = bimodal_1d(4000, seed=1).unsqueeze(-1)
    model = PushforwardGenerator(1, seed=0)
    before = float(
        wasserstein1_1d(model.sample(4000, generator=torch.Generator().manual_seed(2)), fresh)
    )
    history = fit_pushforward(
        model, data, blur=0.05, steps=200, batch_size=128, lr=1e-2, progress=False
    )
    after = float(
        wasserstein1_1d(model.sample(4000, generator=torch.Generator().manual_seed(2)), fresh)
    )
    assert history.steps == 200 and history.train_loss[-1] < history.train_loss[0] / 10
    # Two independent samples of 4000 points are ~0.02 apart in W1.
    assert after < 0.06 < before, (before, after)


def test_fit_pushforward_rejects_mismatched_data():
    model = PushforwardGenerator(2, seed=0)
    with pytest.raises(ValueError, match="data must have 2 feature"):
        fit_pushforward(model, torch.zeros(10, 1), steps=1, progress=False)
    with pytest.raises(TypeError, match="dtype of the generator"):
        fit_pushforward(model, torch.zeros(10, 2, dtype=torch.float64), steps=1, progress=False)
    with pytest.raises(TypeError, match="loss must be one of"):
        fit_pushforward(model, torch.zeros(10, 2), loss=3, steps=1, progress=False)
    with pytest.raises(TypeError, match="rsample"):
        fit_pushforward(torch.nn.Linear(2, 2), torch.zeros(10, 2), steps=1, progress=False)
