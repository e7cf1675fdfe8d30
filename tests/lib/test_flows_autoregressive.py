"""Tests for course_lib.flows.autoregressive: MADE masks, MAF and IAF layers, their builders,
conditional layers and ConditionalFlow."""

import pytest
import torch
from nflows.distributions.normal import StandardNormal
from nflows.flows.base import Flow as NflowsFlow
from nflows.transforms.autoregressive import MaskedAffineAutoregressiveTransform
from torch import nn

from flow_testing import check_transform_contract, randomized
from course_lib.flows import (
    IAF,
    MADE,
    MAF,
    ConditionalFlow,
    Flow,
    ReversePermutation,
    iaf,
    made_masks,
    maf,
    standard_normal,
)


def draw(shape, *, device, dtype, seed=0, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(device, dtype)


def tolerances(dtype):
    return {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}


# MADE


@pytest.mark.parametrize("hidden", [[], [1], [3], [4], [8, 8], [5, 2, 7]])
@pytest.mark.parametrize("context_features", [0, 2])
def test_made_masks_give_a_strictly_lower_triangular_jacobian(hidden, context_features):
    features, outputs_per_feature = 4, 3
    masks = made_masks(
        features,
        hidden,
        outputs_per_feature=outputs_per_feature,
        context_features=context_features,
    )
    generator = torch.Generator().manual_seed(0)
    weights = [
        (
            torch.randn(m.shape, generator=generator, dtype=torch.float64) * m,
            torch.randn(m.shape[0], generator=generator, dtype=torch.float64),
        )
        for m in masks
    ]

    def network(inputs):
        for k, (weight, bias) in enumerate(weights):
            inputs = nn.functional.linear(inputs, weight, bias)
            if k < len(weights) - 1:
                inputs = torch.tanh(inputs)
        return inputs

    x = draw((context_features + features,), device="cpu", dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(network, x)[:, context_features:]
    # Hidden degrees cycle through 1..3 (0..3 with a context): every path exists when each
    # layer has a unit of every degree.
    span = features if context_features else features - 1
    for block in jacobian.split(features):
        assert torch.equal(block.triu(), torch.zeros_like(block))
        if all(size >= span for size in hidden):
            assert int((block.tril(-1) != 0).sum()) == features * (features - 1) // 2


@pytest.mark.parametrize("hidden_layers", [0, 1, 3])
def test_made_network_is_autoregressive_and_reads_the_context(hidden_layers):
    net = randomized(
        MADE(3, 2, hidden_features=6, hidden_layers=hidden_layers, context_features=2)
    ).double()
    x = draw((3,), device="cpu", dtype=torch.float64)
    context = draw((2,), device="cpu", dtype=torch.float64, seed=2)
    jacobian = torch.autograd.functional.jacobian(lambda v: net(v, context), x)
    for block in jacobian.split(3):
        assert torch.equal(block.triu(), torch.zeros_like(block))
    # Every output sees the context (summed over a few points, as ReLU units may be off).
    sensitivity = sum(
        torch.autograd.functional.jacobian(lambda c: net(x, c), c).abs().sum(-1)
        for c in draw((20, 2), device="cpu", dtype=torch.float64, seed=1, scale=2.0)
    )
    assert (sensitivity > 0).all()


def test_made_starts_at_zero():
    net = MADE(3, 2, hidden_features=8)
    assert torch.equal(net(torch.randn(4, 3)), torch.zeros(4, 6))


def test_made_masks_reject_bad_arguments():
    with pytest.raises(ValueError, match="features must be a positive integer"):
        made_masks(0, [4])
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\] must be a positive integer"):
        made_masks(3, [4, 0])
    with pytest.raises(ValueError, match="context_features must be a non-negative integer"):
        made_masks(3, [4], context_features=-1)


def _nflows_maf(features, hidden_features):
    """nflows' MAF layer with a MADE of plain masked layers (2 hidden layers, ReLU)."""
    return MaskedAffineAutoregressiveTransform(
        features, hidden_features, num_blocks=1, use_residual_blocks=False
    )


def test_made_equals_nflows_made_on_the_same_weights():
    features, hidden = 4, 9
    reference = randomized(_nflows_maf(features, hidden), scale=0.5).double()
    ours = MADE(features, 2, hidden_features=hidden, hidden_layers=2).double()
    theirs = [
        reference.autoregressive_net.initial_layer,
        reference.autoregressive_net.blocks[0].linear,
        reference.autoregressive_net.final_layer,
    ]
    mine = [m for m in ours.network if isinstance(m, nn.Linear)]
    # nflows orders outputs feature-major (feature i, parameter p at i * 2 + p); ours are
    # parameter-major (p * features + i).
    rows = torch.arange(2 * features).reshape(features, 2).T.reshape(-1)
    with torch.no_grad():
        for k, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            order = rows if k == 2 else slice(None)
            assert torch.equal(a.mask, b.mask[order]), f"mask of layer {k}"
            a.weight.copy_(b.weight[order])
            a.bias.copy_(b.bias[order])
    x = draw((7, features), device="cpu", dtype=torch.float64)
    torch.testing.assert_close(ours(x), reference.autoregressive_net(x)[:, rows])


class _AsBoundedLogScale(nn.Module):
    """nflows' MADE output (raw scale u, shift c; z = softplus(u) x + c) rewritten as our
    MAF's (t, raw log-scale r): z = (x - t) exp(-s), s = bound tanh(r / bound)."""

    def __init__(self, made, features, bound):
        super().__init__()
        self.made, self.features, self.bound = made, features, bound

    def forward(self, x, context=None):
        output = self.made(x).unflatten(-1, (self.features, 2))
        scale = nn.functional.softplus(output[..., 0]) + 1e-3
        shift = -output[..., 1] / scale
        raw = self.bound * torch.atanh(-torch.log(scale) / self.bound)
        return torch.cat([shift, raw], dim=-1)


def test_maf_matches_nflows_maf(device, dtype):
    features, bound = 3, 10.0  # above |log(1e-3)|, so every nflows scale is reachable
    reference = randomized(_nflows_maf(features, 8), scale=0.5).to(device, dtype)
    ours = MAF(features, scale_bound=bound).to(device, dtype)
    ours.made = _AsBoundedLogScale(reference.autoregressive_net, features, bound)
    x = draw((11, features), device=device, dtype=dtype, scale=2.0)
    # nflows goes data -> noise: its forward is our (parallel) inverse, its (sequential)
    # inverse our forward.
    z, log_det = ours.inverse(x)
    expected, expected_log_det = reference(x)
    torch.testing.assert_close(z, expected, **tolerances(dtype))
    torch.testing.assert_close(log_det, expected_log_det, **tolerances(dtype))
    back, back_log_det = ours(z)
    expected_back, expected_back_log_det = reference.inverse(z)
    torch.testing.assert_close(back, expected_back, **tolerances(dtype))
    torch.testing.assert_close(back_log_det, expected_back_log_det, **tolerances(dtype))
    flow = Flow(standard_normal(features, device=device, dtype=dtype), [ours])
    nflows_flow = NflowsFlow(reference, StandardNormal([features])).to(device, dtype)
    torch.testing.assert_close(flow.log_prob(x), nflows_flow.log_prob(x), **tolerances(dtype))


# MAF and IAF: the transform contract, parallel and sequential directions


LAYERS = {
    "MAF": lambda: randomized(MAF(3, hidden_features=8), scale=0.4),
    "IAF": lambda: randomized(IAF(3, hidden_features=8), scale=0.4),
    "MAF-one-feature": lambda: randomized(MAF(1, hidden_features=4), scale=0.4),
    "MAF-conditional": lambda: randomized(MAF(3, hidden_features=8, context_features=2), 0.4),
    "IAF-conditional": lambda: randomized(IAF(3, hidden_features=8, context_features=2), 0.4),
}


def make_layer(name, device, dtype):
    layer = LAYERS[name]().to(device, dtype)
    if layer.context_features:
        context = draw((1, layer.context_features), device=device, dtype=dtype, seed=5)
        return layer.condition(context)
    return layer


@pytest.mark.parametrize("name", LAYERS)
def test_autoregressive_layer_satisfies_the_transform_contract(name, device, dtype):
    layer = make_layer(name, device, dtype)
    z = draw((16, layer.features), device=device, dtype=dtype)
    x = draw((16, layer.features), device=device, dtype=dtype, seed=2, scale=2.0)
    check_transform_contract(name, layer, z, x)


class _CountingMADE(nn.Module):
    def __init__(self, made):
        super().__init__()
        self.made, self.calls = made, 0

    def forward(self, x, context=None):
        self.calls += 1
        return self.made(x, context)


@pytest.mark.parametrize(("kind", "forward_passes", "inverse_passes"), [(MAF, 4, 1), (IAF, 1, 4)])
def test_which_direction_is_parallel(kind, forward_passes, inverse_passes):
    layer = kind(4, hidden_features=8)
    layer.made = _CountingMADE(layer.made)
    layer(torch.randn(5, 4))
    assert layer.made.calls == forward_passes
    layer.made.calls = 0
    layer.inverse(torch.randn(5, 4))
    assert layer.made.calls == inverse_passes


def test_iaf_forward_reads_the_noise(device, dtype):
    # IAF's forward is the affine map of MAF with the network reading z, in one pass:
    # x = z exp(s(z)) + t(z).
    maf_layer = randomized(MAF(3, hidden_features=8), scale=0.4).to(device, dtype)
    iaf_layer = IAF(3, hidden_features=8).to(device, dtype)
    iaf_layer.load_state_dict(maf_layer.state_dict())
    z = draw((5, 3), device=device, dtype=dtype)
    output = maf_layer.made(z)
    shift, raw = output[:, :3], output[:, 3:]
    log_scale = 3.0 * torch.tanh(raw / 3.0)
    x, log_det = iaf_layer(z)
    torch.testing.assert_close(x, z * log_scale.exp() + shift)
    torch.testing.assert_close(log_det, log_scale.sum(-1))


@pytest.mark.parametrize("build", [maf, iaf])
def test_autoregressive_flows_pass_their_scale_bound_to_every_layer(build):
    flow = build(2, layers=3, hidden_features=8, scale_bound=0.5, seed=0)
    layers = [t for t in flow.transform if isinstance(t, MAF)]
    assert [layer.scale_bound for layer in layers] == [0.5] * 3
    with torch.no_grad():
        for layer in layers:
            layer.made.network[-1].bias[2:].fill_(1e4)  # raw log-scales far above the bound
    # Every layer scales both features by exp(0.5): log-det 3 * 2 * 0.5.
    _, log_det = flow.transform(torch.zeros(4, 2))
    torch.testing.assert_close(log_det, torch.full_like(log_det, 3.0))
    with pytest.raises(ValueError, match="scale_bound must be a finite positive number"):
        build(2, scale_bound=-1.0)


@pytest.mark.parametrize("kind", [MAF, IAF])
def test_autoregressive_layer_starts_at_the_identity(kind):
    layer = kind(3, hidden_features=8)
    z = torch.randn(4, 3)
    x, log_det = layer(z)
    assert torch.equal(x, z) and torch.equal(log_det, torch.zeros(4))


def test_conditional_layer_depends_on_the_context(device, dtype):
    layer = randomized(MAF(2, hidden_features=8, context_features=1), 0.5).to(device, dtype)
    z = draw((6, 2), device=device, dtype=dtype)
    zero = torch.zeros(1, 1, device=device, dtype=dtype)
    x0 = layer.condition(zero)(z)[0]
    x1 = layer.condition(zero + 1)(z)[0]
    assert not torch.allclose(x0, x1)
    per_point = torch.cat([zero, zero + 1, zero, zero + 1, zero, zero + 1])
    mixed = layer.condition(per_point)(z)[0]
    torch.testing.assert_close(mixed[0::2], x0[0::2])
    torch.testing.assert_close(mixed[1::2], x1[1::2])


def test_conditional_layer_rejects_a_missing_or_bad_context():
    layer = MAF(2, hidden_features=8, context_features=3)
    with pytest.raises(ValueError, match=r"conditional \(context_features=3\).*condition"):
        layer(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"context must have shape \(\*batch, 3\)"):
        layer.condition(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="context must contain only finite values"):
        layer.condition(torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match="context must have a batch shape that broadcasts"):
        layer.condition(torch.zeros(5, 3))(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="takes no context"):
        MAF(2).condition(torch.zeros(1, 1))


# Builders and flows


@pytest.mark.parametrize("builder", [maf, iaf])
def test_builder_starts_at_the_standard_normal_and_reverses_between_layers(builder):
    flow = builder(3, layers=3, hidden_features=8, seed=0)
    assert isinstance(flow, Flow)
    kinds = [type(t) for t in flow.transform]
    layer = MAF if builder is maf else IAF
    assert kinds == [layer, ReversePermutation, layer, ReversePermutation, layer]
    x = torch.randn(5, 3)
    torch.testing.assert_close(flow.log_prob(x), standard_normal(3).log_prob(x))
    again = builder(3, layers=3, hidden_features=8, seed=0)
    for a, b in zip(flow.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("builder", [maf, iaf])
def test_autoregressive_flow_density_integrates_to_one(builder, device, dtype):
    flow = randomized(builder(2, layers=3, hidden_features=8, seed=0), scale=0.3)
    flow = flow.to(device, dtype)
    grid = torch.linspace(-10.0, 10.0, 161, device=device, dtype=dtype)
    x = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1)
    with torch.no_grad():
        density = flow.log_prob(x).exp()
    total = torch.trapezoid(torch.trapezoid(density, grid, dim=-1), grid)
    assert abs(float(total) - 1.0) < 1e-2


def test_maf_samples_follow_its_density():
    # sample() runs the sequential direction, log_prob the parallel one: the histogram of
    # samples must match the probabilities of the cells under log_prob.
    flow = randomized(maf(2, layers=2, hidden_features=8, seed=0), scale=0.3).double()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        samples = flow.sample((100_000,))
    edges = torch.linspace(-3.0, 3.0, 7, dtype=torch.float64)
    fine = torch.linspace(-3.0, 3.0, 121, dtype=torch.float64)
    points = torch.stack(torch.meshgrid(fine, fine, indexing="ij"), dim=-1)
    with torch.no_grad():
        density = flow.log_prob(points).exp()
    for i in range(6):
        for j in range(6):
            rows, cols = slice(20 * i, 20 * i + 21), slice(20 * j, 20 * j + 21)
            cell = density[rows, cols]
            expected = torch.trapezoid(torch.trapezoid(cell, fine[cols], dim=-1), fine[rows])
            inside = (
                (samples[:, 0] >= edges[i])
                & (samples[:, 0] < edges[i + 1])
                & (samples[:, 1] >= edges[j])
                & (samples[:, 1] < edges[j + 1])
            )
            observed = inside.double().mean()
            # Binomial standard error, at least that of p = 1e-3, five of them.
            error = (max(float(expected), 1e-3) / 100_000) ** 0.5
            assert abs(float(observed - expected)) < 5 * error + 1e-3, (i, j)


def test_conditional_flow_scores_and_samples(device, dtype):
    flow = randomized(maf(2, layers=2, hidden_features=8, context_features=1, seed=0), 0.3)
    flow = flow.to(device, dtype)
    assert isinstance(flow, ConditionalFlow)
    context = torch.tensor([[0.0], [1.0], [2.0]], device=device, dtype=dtype)
    conditioned = flow(context)
    x = draw((3, 2), device=device, dtype=dtype)
    log_prob = conditioned.log_prob(x)
    assert log_prob.shape == (3,)
    for k in range(3):
        single = flow(context[k : k + 1]).log_prob(x[k : k + 1])
        torch.testing.assert_close(single[0], log_prob[k])
    samples, sample_log_prob = flow(context[:1]).sample_and_log_prob((50,))
    assert samples.shape == (50, 2)
    torch.testing.assert_close(
        flow(context[:1]).log_prob(samples), sample_log_prob, rtol=1e-6, atol=1e-5
    )
    (-log_prob.sum()).backward()
    assert all(p.grad is not None for p in flow.parameters())
    with pytest.raises(ValueError, match="must include a conditional layer"):
        ConditionalFlow(standard_normal(2), [MAF(2)])


def test_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        maf(2, layers=0)
    with pytest.raises(ValueError, match="hidden_features must be a positive integer"):
        iaf(2, hidden_features=0)
    with pytest.raises(ValueError, match="scale_bound must be a finite positive number"):
        MAF(2, scale_bound=-1.0)


@pytest.mark.parametrize("builder", [maf, iaf])
def test_autoregressive_flow_gradients_reach_every_parameter(builder):
    flow = randomized(builder(3, layers=2, hidden_features=8, seed=0), scale=0.3).double()
    x = draw((64, 3), device="cpu", dtype=torch.float64, scale=1.5)
    flow.log_prob(x).sum().backward()
    samples, log_prob = flow.rsample_and_log_prob((64,))
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        parameter.grad = None
    (samples.square().sum() + log_prob.sum()).backward()
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
