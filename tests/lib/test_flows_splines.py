"""Tests for course_lib.flows.splines: the rational-quadratic spline against nflows and Pyro,
its robustness, and the spline layers and flows."""

import math

import pytest
import torch
import torch.nn.functional as F
from nflows.transforms.splines.rational_quadratic import (
    unconstrained_rational_quadratic_spline,
)
from pyro.distributions.transforms import Spline

from flow_testing import check_transform_contract, randomized
from course_lib.flows import (
    Flow,
    RQSpline,
    SplineAutoregressive,
    SplineCoupling,
    neural_spline_flow,
    rq_spline,
    standard_normal,
)
from course_lib.flows.autoregressive import ConditionalFlow
from course_lib.training import fit

BOUND = 2.5
BINS = 6


def tolerances(dtype):
    return {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}


def draw(shape, *, device, dtype, seed=0, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(device, dtype)


def spline_parameters(features, *, device, dtype, seed=0, derivatives=BINS - 1):
    """Unnormalized widths, heights and derivatives, far from uniform (less so in float32,
    whose rounding the steepest and flattest bins magnify past its tolerances)."""
    scale = 2.0 if dtype == torch.float64 else 1.0
    widths = draw((features, BINS), device=device, dtype=dtype, seed=seed, scale=scale)
    heights = draw((features, BINS), device=device, dtype=dtype, seed=seed + 1, scale=scale)
    slopes = draw((features, derivatives), device=device, dtype=dtype, seed=seed + 2, scale=scale)
    return widths, heights, slopes


def knots(unnormalized, bound=BOUND, minimum=1e-3):
    """Knot positions by the formula of the docstring, written independently."""
    share = minimum + (1 - minimum * unnormalized.shape[-1]) * torch.softmax(unnormalized, -1)
    return -bound + 2 * bound * F.pad(torch.cumsum(share, -1), (1, 0))


def hard_inputs(widths, *, device, dtype):
    """Points inside, in both tails, exactly on every knot, at +-bound and far outside.

    In float32 the knots and +-bound are left out: two libraries place a knot a few ulps
    apart, and in a bin as steep or as flat as these parameters make (slopes from ~1e-3 to
    ~1e3) that moves the output by up to ~0.1; at y = B nflows' float32 inverse log-det is
    0.024 where the exact value is 0 (ours: 9e-6). float64 checks them all.
    """
    features = widths.shape[0]
    inside = draw((200, features), device=device, dtype=dtype, seed=7, scale=1.5)
    tails = draw((50, features), device=device, dtype=dtype, seed=8, scale=6.0)
    far = torch.tensor([[1e6], [-1e6]], device=device, dtype=dtype).expand(2, features)
    if dtype != torch.float64:
        return torch.cat([inside, tails, far])
    on_knots = knots(widths).T.contiguous()  # (bins + 1, features), with -B and B
    return torch.cat([inside, tails, on_knots, far])


def nflows_spline(x, widths, heights, derivatives, inverse):
    n = x.shape[0]
    outputs, log_derivatives = unconstrained_rational_quadratic_spline(
        x,
        widths.expand(n, *widths.shape),
        heights.expand(n, *heights.shape),
        derivatives.expand(n, *derivatives.shape),
        inverse=inverse,
        tails="linear",
        tail_bound=BOUND,
    )
    return outputs, log_derivatives.sum(-1)


@pytest.mark.parametrize("inverse", [False, True])
def test_rq_spline_matches_nflows(inverse, device, dtype):
    # nflows takes the K - 1 inner derivatives and pads the ends so that they are 1, as we do.
    widths, heights, derivatives = spline_parameters(3, device=device, dtype=dtype)
    x = hard_inputs(widths if not inverse else heights, device=device, dtype=dtype)
    ours, ours_log_det = rq_spline(x, widths, heights, derivatives, bound=BOUND, inverse=inverse)
    theirs, their_log_det = nflows_spline(x, widths, heights, derivatives, inverse)
    torch.testing.assert_close(ours, theirs, **tolerances(dtype))
    torch.testing.assert_close(ours_log_det, their_log_det, **tolerances(dtype))


@pytest.mark.parametrize("inverse", [False, True])
def test_rq_spline_matches_pyro(inverse, device, dtype):
    # Pyro's quadratic Spline takes softmax widths and heights and softplus inner derivatives
    # as we do, but sets the end derivatives to 1 - min_derivative (after adding
    # min_derivative to the others). Our K + 1 form gives them explicitly: softplus(e) + m
    # = 1 - m for e = softplus^-1(1 - 2m).
    widths, heights, derivatives = spline_parameters(3, device=device, dtype=dtype, seed=3)
    reference = Spline(3, count_bins=BINS, bound=BOUND, order="quadratic").to(device, dtype)
    with torch.no_grad():
        reference.unnormalized_widths.copy_(widths)
        reference.unnormalized_heights.copy_(heights)
        reference.unnormalized_derivatives.copy_(derivatives)
    end = torch.full((3, 1), math.log(math.expm1(1 - 2e-3)), device=device, dtype=dtype)
    all_knots = torch.cat([end, derivatives, end], dim=-1)
    x = hard_inputs(widths if not inverse else heights, device=device, dtype=dtype)
    ours, ours_log_det = rq_spline(x, widths, heights, all_knots, bound=BOUND, inverse=inverse)
    with torch.no_grad():
        if inverse:
            theirs = reference.inv(x)
            their_log_det = -reference.log_abs_det_jacobian(theirs, x).sum(-1)
        else:
            theirs = reference(x)
            their_log_det = reference.log_abs_det_jacobian(x, theirs).sum(-1)
    torch.testing.assert_close(ours, theirs, **tolerances(dtype))
    torch.testing.assert_close(ours_log_det, their_log_det, **tolerances(dtype))


def test_rq_spline_maps_knots_to_knots_and_matches_the_knot_derivatives(device, dtype):
    widths, heights, derivatives = spline_parameters(2, device=device, dtype=dtype, seed=5)
    x_knots, y_knots = knots(widths).T, knots(heights).T
    y, log_det = rq_spline(x_knots, widths, heights, derivatives, bound=BOUND)
    torch.testing.assert_close(y, y_knots, **tolerances(dtype))
    # At a knot the derivative is delta_k: 1 at the ends, min + softplus(raw) inside.
    slopes = F.pad(1e-3 + F.softplus(derivatives), (1, 1), value=1.0).T
    torch.testing.assert_close(log_det, slopes.log().sum(-1), **tolerances(dtype))


def test_rq_spline_is_the_identity_in_the_tails(device, dtype):
    widths, heights, derivatives = spline_parameters(2, device=device, dtype=dtype)
    bound = torch.tensor(BOUND, dtype=dtype)
    above = float(torch.nextafter(bound, bound + 1))  # the first number past the bound
    x = torch.tensor([[3.0, -7.5], [1e6, -1e6], [above, -above]], dtype=dtype).to(device)
    for inverse in (False, True):
        y, log_det = rq_spline(x, widths, heights, derivatives, bound=BOUND, inverse=inverse)
        assert torch.equal(y, x) and torch.equal(log_det, torch.zeros_like(log_det))


def test_rq_spline_inverse_clamps_a_negative_discriminant():
    # In float32, at the top knot of steep bins, rounding makes b^2 - 4ac negative: the
    # square root would give NaN without the clamp.
    generator = torch.Generator().manual_seed(0)
    features, bins = 200, 8
    widths = 3 * torch.randn(features, bins, generator=generator)
    heights = 3 * torch.randn(features, bins, generator=generator)
    derivatives = 3 * torch.randn(features, bins - 1, generator=generator)
    y_knots = knots(heights, 3.0).T
    y = torch.cat([y_knots, y_knots + 1e-7, y_knots - 1e-7]).clamp(-3.0, 3.0)
    # The discriminant by Durkan et al.'s eqs. (6)-(8), in float32, bin by bin.
    x_knots = knots(widths, 3.0)
    slopes = F.pad(1e-3 + F.softplus(derivatives), (1, 1), value=1.0)
    index = (y.unsqueeze(-1) >= knots(heights, 3.0)[:, 1:-1]).sum(-1, keepdim=True)

    def at(values, shift=0):
        return values.expand(y.shape[0], *values.shape).gather(-1, index + shift)[..., 0]

    width = at(x_knots, 1) - at(x_knots)
    height = at(knots(heights, 3.0), 1) - at(knots(heights, 3.0))
    slope, d0, d1 = height / width, at(slopes), at(slopes, 1)
    rise = y - at(knots(heights, 3.0))
    a = height * (slope - d0) + rise * (d0 + d1 - 2 * slope)
    b = height * d0 - rise * (d0 + d1 - 2 * slope)
    c = -slope * rise
    assert ((b * b - 4 * a * c) < 0).any(), "the case should reach a negative discriminant"
    x, log_det = rq_spline(y, widths, heights, derivatives, bound=3.0, inverse=True)
    assert torch.isfinite(x).all() and torch.isfinite(log_det).all()
    # Against the float64 inverse. These bins have slopes from ~1e-3 to ~1e3, so float32
    # rounding of y alone moves x by up to ~1e-4: the check is loose, the NaN check is not.
    exact, _ = rq_spline(
        y.double(),
        widths.double(),
        heights.double(),
        derivatives.double(),
        bound=3.0,
        inverse=True,
    )
    torch.testing.assert_close(x.double(), exact, rtol=0, atol=1e-3)


def test_rq_spline_with_extreme_parameters_stays_finite_and_invertible(device, dtype):
    # Bins at their minimum width or height, derivatives near 0 and very large.
    widths = torch.tensor([[30.0, -30.0, 0.0, -30.0, 30.0, 0.0]], device=device, dtype=dtype)
    heights = torch.tensor([[-30.0, 30.0, 30.0, 0.0, -30.0, 0.0]], device=device, dtype=dtype)
    derivatives = torch.tensor([[-30.0, 30.0, 0.0, -30.0, 10.0]], device=device, dtype=dtype)
    x = torch.linspace(-4.0, 4.0, 4001, device=device, dtype=dtype).unsqueeze(-1)
    y, log_det = rq_spline(x, widths, heights, derivatives, bound=BOUND)
    assert torch.isfinite(y).all() and torch.isfinite(log_det).all()
    assert (y.diff(dim=0) >= 0).all()  # monotone
    back, back_log_det = rq_spline(y, widths, heights, derivatives, bound=BOUND, inverse=True)
    assert torch.isfinite(back).all() and torch.isfinite(back_log_det).all()
    if dtype == torch.float64:
        torch.testing.assert_close(back, x, rtol=0, atol=1e-9)
    else:
        # In float32 one ulp of y moves x by ~0.2 in the flattest bins, and one ulp of x moves
        # y by ~1e-4 in the steepest: each point must come back in one space or the other.
        again, _ = rq_spline(back, widths, heights, derivatives, bound=BOUND)
        assert (((back - x).abs() < 1e-3) | ((again - y).abs() < 1e-3)).all()


def test_rq_spline_broadcasts_per_point_parameters(device, dtype):
    widths, heights, derivatives = spline_parameters(2, device=device, dtype=dtype)
    x = draw((4, 2), device=device, dtype=dtype)
    shared, shared_log_det = rq_spline(x, widths, heights, derivatives, bound=BOUND)
    per_point = [t.expand(4, *t.shape) for t in (widths, heights, derivatives)]
    y, log_det = rq_spline(x, *per_point, bound=BOUND)
    torch.testing.assert_close(y, shared)
    torch.testing.assert_close(log_det, shared_log_det)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"heights": torch.zeros(2, 5)}, ValueError, r"heights must have as many bins as widths"),
        ({"derivatives": torch.zeros(2, 4)}, ValueError, r"derivatives must have bins - 1 = 5"),
        ({"widths": torch.zeros(3, 6)}, ValueError, r"widths must have shape \(\*batch, feat"),
        ({"widths": torch.zeros(6)}, ValueError, r"widths must have shape \(\*batch, features"),
        ({"widths": [[0.0] * 6] * 2}, TypeError, r"widths must be a torch.Tensor"),
        ({"heights": torch.zeros(2, 6, dtype=torch.float64)}, TypeError, r"heights must have"),
        ({"derivatives": torch.full((2, 5), math.inf)}, ValueError, r"derivatives must contain"),
        ({"x": torch.zeros(4, 2, dtype=torch.int64)}, TypeError, r"x must have a floating"),
        ({"bound": 0.0}, ValueError, r"bound must be a finite positive number"),
        ({"min_bin_width": 0.2}, ValueError, r"min_bin_width must be below 1 / bins"),
        ({"min_derivative": -1.0}, ValueError, r"min_derivative must be a finite positive"),
    ],
)
def test_rq_spline_rejects_bad_arguments(change, error, message):
    arguments = {
        "x": torch.zeros(4, 2),
        "widths": torch.zeros(2, 6),
        "heights": torch.zeros(2, 6),
        "derivatives": torch.zeros(2, 5),
    } | change
    x = arguments.pop("x")
    with pytest.raises(error, match=message):
        rq_spline(x, arguments.pop("widths"), arguments.pop("heights"), **arguments)


# Layers: the transform contract


LAYERS = {
    "RQSpline": lambda: randomized(RQSpline(3, bins=5), scale=1.0),
    "SplineCoupling": lambda: randomized(
        SplineCoupling(4, torch.tensor([1, 0, 0, 1]), bins=5, hidden_features=8), scale=0.3
    ),
    "SplineAutoregressive": lambda: randomized(
        SplineAutoregressive(3, bins=5, hidden_features=8), scale=0.4
    ),
    "SplineAutoregressive-inverse": lambda: randomized(
        SplineAutoregressive(3, bins=5, hidden_features=8, inverse_autoregressive=True), 0.4
    ),
    "SplineAutoregressive-conditional": lambda: randomized(
        SplineAutoregressive(3, bins=5, hidden_features=8, context_features=2), scale=0.4
    ),
}


def make_layer(name, device, dtype):
    layer = LAYERS[name]().to(device, dtype)
    if getattr(layer, "context_features", 0):
        context = draw((1, 2), device=device, dtype=dtype, seed=5)
        return layer.condition(context)
    return layer


@pytest.mark.parametrize("name", LAYERS)
def test_spline_layer_satisfies_the_transform_contract(name, device, dtype):
    layer = make_layer(name, device, dtype)
    z = draw((16, layer.features), device=device, dtype=dtype, scale=1.5)
    x = draw((16, layer.features), device=device, dtype=dtype, seed=2, scale=2.0)
    check_transform_contract(name, layer, z, x)


@pytest.mark.parametrize("name", [n for n in LAYERS if "conditional" not in n])
def test_spline_layer_starts_at_the_identity(name):
    layer = {
        "RQSpline": lambda: RQSpline(3, bins=5),
        "SplineCoupling": lambda: SplineCoupling(4, torch.tensor([1, 0, 0, 1])),
        "SplineAutoregressive": lambda: SplineAutoregressive(3),
        "SplineAutoregressive-inverse": lambda: SplineAutoregressive(
            3, inverse_autoregressive=True
        ),
    }[name]().double()
    z = draw((8, layer.features), device="cpu", dtype=torch.float64, scale=2.0)
    x, log_det = layer(z)
    torch.testing.assert_close(x, z, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_det, torch.zeros(8, dtype=torch.float64), rtol=0, atol=1e-12)


def test_spline_coupling_leaves_the_conditioning_features_and_sets_splines_from_them():
    layer = randomized(
        SplineCoupling(3, torch.tensor([0, 1, 0]), bins=4, hidden_features=8), scale=0.5
    ).double()
    z = draw((5, 3), device="cpu", dtype=torch.float64)
    x, log_det = layer(z)
    assert torch.equal(x[:, 1], z[:, 1])
    # By hand: the conditioner's output, parameter-major, as rq_spline's arguments.
    raw = layer.conditioner(z[:, [1]]).unflatten(-1, (11, 2)).transpose(-1, -2)
    offset = math.log(math.expm1(1 - 1e-3))  # a zero raw derivative means slope 1
    expected, expected_log_det = rq_spline(
        z[:, [0, 2]], raw[..., :4], raw[..., 4:8], raw[..., 8:] + offset, bound=3.0
    )
    torch.testing.assert_close(x[:, [0, 2]], expected)
    torch.testing.assert_close(log_det, expected_log_det)


def test_spline_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        RQSpline(2, bins=0)
    with pytest.raises(ValueError, match="bins must be below 1000"):
        SplineCoupling(2, torch.tensor([1, 0]), bins=1000)
    with pytest.raises(ValueError, match="bound must be a finite positive number"):
        SplineAutoregressive(2, bound=-1.0)
    layer = SplineCoupling(
        2, torch.tensor([1, 0]), bins=4, conditioner=lambda i, o: torch.nn.Linear(i, o + 1)
    )
    with pytest.raises(ValueError, match=r"must output \(3 \* bins - 1\) \* 1 = 11 values"):
        layer(torch.zeros(3, 2))


# Flows


FLOWS = {
    "coupling": lambda: neural_spline_flow(2, layers=3, bins=5, hidden_features=8, seed=0),
    "autoregressive": lambda: neural_spline_flow(
        2, layers=3, bins=5, hidden_features=8, kind="autoregressive", seed=0
    ),
}


@pytest.mark.parametrize("kind", FLOWS)
def test_neural_spline_flow_density_integrates_to_one(kind, device, dtype):
    # Larger perturbations give peaks narrower than the grid.
    flow = randomized(FLOWS[kind](), scale=0.2).to(device, dtype)
    grid = torch.linspace(-8.0, 8.0, 161, device=device, dtype=dtype)
    x = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1)
    with torch.no_grad():
        density = flow.log_prob(x).exp()
    total = torch.trapezoid(torch.trapezoid(density, grid, dim=-1), grid)
    assert abs(float(total) - 1.0) < 1e-2


@pytest.mark.parametrize("kind", FLOWS)
def test_neural_spline_flow_starts_at_the_standard_normal(kind):
    flow = FLOWS[kind]().double()
    x = draw((6, 2), device="cpu", dtype=torch.float64, scale=3.0)
    torch.testing.assert_close(
        flow.log_prob(x), standard_normal(2, dtype=torch.float64).log_prob(x)
    )


@pytest.mark.parametrize("kind", FLOWS)
def test_neural_spline_flow_samples_100000_points_without_nan(kind):
    flow = randomized(FLOWS[kind](), scale=0.8)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x, log_prob = flow.sample_and_log_prob((100_000,))
    assert torch.isfinite(x).all() and torch.isfinite(log_prob).all()
    far = torch.tensor([[1e6, -1e6], [3.0, -3.0], [-3.0, 3.0]])
    assert torch.isfinite(flow.log_prob(far)).all()


def test_neural_spline_flow_trained_on_outliers_stays_finite():
    generator = torch.Generator().manual_seed(0)
    data = torch.randn(512, 2, generator=generator)
    data[:8] = 40.0 * torch.randn(8, 2, generator=generator)  # far beyond the bound
    flow = neural_spline_flow(2, layers=2, bins=5, hidden_features=16, seed=0)
    nll = lambda model, batch: -model.log_prob(batch).mean()  # noqa: E731
    fit(flow, nll, data, steps=30, batch_size=128, lr=2e-2, seed=0, progress=False)
    assert all(torch.isfinite(p).all() for p in flow.parameters())
    assert torch.isfinite(flow.log_prob(data)).all()
    with torch.random.fork_rng():
        torch.manual_seed(1)
        samples = flow.sample((100_000,))
    assert torch.isfinite(samples).all()


def test_neural_spline_flow_gradients_reach_every_parameter():
    for kind in FLOWS:
        flow = randomized(FLOWS[kind](), scale=0.3).double()
        x = draw((64, 2), device="cpu", dtype=torch.float64, scale=1.5)
        flow.log_prob(x).sum().backward()
        for name, parameter in flow.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, (kind, name)


def test_neural_spline_flow_conditional():
    flow = neural_spline_flow(
        2, layers=2, bins=4, hidden_features=8, kind="autoregressive", context_features=1, seed=0
    )
    assert isinstance(flow, ConditionalFlow)
    flow = randomized(flow, scale=0.3).double()
    x = draw((4, 2), device="cpu", dtype=torch.float64)
    context = torch.tensor([[0.0], [1.0], [0.0], [1.0]], dtype=torch.float64)
    log_prob = flow(context).log_prob(x)
    assert isinstance(flow(context), Flow) and log_prob.shape == (4,)
    assert not torch.allclose(log_prob, flow(torch.zeros(1, 1, dtype=torch.float64)).log_prob(x))


def test_neural_spline_flow_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of 'coupling', 'autoregressive'"):
        neural_spline_flow(2, kind="residual")
    with pytest.raises(ValueError, match="features must be at least 2 for a coupling flow"):
        neural_spline_flow(1)
    with pytest.raises(ValueError, match="context_features must be 0 for kind='coupling'"):
        neural_spline_flow(2, context_features=2)
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        neural_spline_flow(2, layers=0)
