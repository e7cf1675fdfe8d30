"""Tests for course_lib.flows.coupling: affine coupling layers and the RealNVP builder."""

import pytest
import torch
from nflows.distributions.normal import StandardNormal
from nflows.flows.base import Flow as NflowsFlow
from nflows.transforms.base import InverseTransform
from nflows.transforms.coupling import AffineCouplingTransform
from torch import nn

from flow_testing import randomized
from course_lib.flows import (
    AffineCoupling,
    Flow,
    RandomPermutation,
    ReversePermutation,
    mlp,
    realnvp,
    standard_normal,
)


def draw(shape, *, device, dtype, seed=0, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(device, dtype)


def test_affine_coupling_matches_the_realnvp_formula(device, dtype):
    mask = torch.tensor([False, True, False, True, True])
    layer = randomized(AffineCoupling(5, mask, hidden_features=8, scale_bound=2.0), scale=1.0)
    layer = layer.to(device, dtype)
    z = draw((7, 5), device=device, dtype=dtype)
    # By hand: x_A = z_A, x_B = z_B exp(s) + t with (t, raw) = net(z_A), s = 2 tanh(raw / 2).
    output = layer.conditioner(z[:, [1, 3, 4]])
    shift, raw = output[:, :2], output[:, 2:]
    log_scale = 2.0 * torch.tanh(raw / 2.0)
    expected = z.clone()
    expected[:, [0, 2]] = z[:, [0, 2]] * log_scale.exp() + shift
    x, log_det = layer(z)
    torch.testing.assert_close(x, expected)
    torch.testing.assert_close(log_det, log_scale.sum(-1))
    assert torch.equal(x[:, mask.to(device)], z[:, mask.to(device)])


class _Network(nn.Module):
    """A conditioner nflows can call as net(inputs, context) and we as net(inputs)."""

    def __init__(self, features_in, features_out):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(features_in, 8), nn.Tanh(), nn.Linear(8, features_out)
        )

    def forward(self, inputs, context=None):
        return self.layers(inputs)


class _AsBoundedLogScale(nn.Module):
    """Rewrites nflows' raw scale r, scale = sigmoid(r + 2) + 1e-3, as our raw log-scale."""

    def __init__(self, network, bound):
        super().__init__()
        self.network, self.bound = network, bound

    def forward(self, inputs):
        output = self.network(inputs)
        half = output.shape[-1] // 2
        log_scale = torch.log(torch.sigmoid(output[..., half:] + 2) + 1e-3)
        raw = self.bound * torch.atanh(log_scale / self.bound)  # s = bound tanh(raw / bound)
        return torch.cat([output[..., :half], raw], dim=-1)


# nflows' mask marks the transformed features. Conditioning features first or last take
# course_lib's sliced path, scattered ones its indexed path.
@pytest.mark.parametrize("transformed", [[1, 0, 1, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 0, 0]])
def test_affine_coupling_matches_nflows(transformed, device, dtype):
    bound = 10.0  # above |log(1e-3)|, the largest log-scale nflows can produce
    transformed = torch.tensor(transformed)
    reference = randomized(
        AffineCouplingTransform(transformed, transform_net_create_fn=_Network), scale=1.0
    ).to(device, dtype)
    ours = AffineCoupling(
        5,
        transformed == 0,  # our mask marks the conditioning features
        conditioner=lambda i, o: _AsBoundedLogScale(reference.transform_net, bound),
        scale_bound=bound,
    ).to(device, dtype)
    z = draw((9, 5), device=device, dtype=dtype, scale=2.0)
    # As maps, nflows' forward and ours are the same formula, x_B = z_B * scale + shift.
    x, log_det = ours(z)
    expected, expected_log_det = reference(z)
    torch.testing.assert_close(x, expected)
    torch.testing.assert_close(log_det, expected_log_det)
    # As flows, nflows goes data -> noise: its flow uses the transform's forward to score
    # data. Our flow uses ``inverse`` to score, so the matching nflows flow is built on
    # InverseTransform of the same map.
    flow = Flow(standard_normal(5, device=device, dtype=dtype), [ours])
    nflows_flow = NflowsFlow(InverseTransform(reference), StandardNormal([5])).to(device, dtype)
    data = draw((9, 5), device=device, dtype=dtype, seed=3, scale=2.0)
    torch.testing.assert_close(flow.log_prob(data), nflows_flow.log_prob(data))


def test_affine_coupling_starts_at_the_identity(device, dtype):
    layer = AffineCoupling(3, torch.tensor([1, 0, 0]), hidden_features=8).to(device, dtype)
    z = draw((4, 3), device=device, dtype=dtype)
    x, log_det = layer(z)
    assert torch.equal(x, z) and torch.equal(log_det, torch.zeros_like(log_det))


def test_affine_coupling_bounds_the_log_scale(device, dtype):
    layer = AffineCoupling(2, torch.tensor([True, False]), scale_bound=1.5).to(device, dtype)
    with torch.no_grad():
        layer.conditioner[-1].bias[1:].fill_(1e4)  # the raw log-scale, after the shift
    z = draw((5, 2), device=device, dtype=dtype)
    x, log_det = layer(z)
    assert torch.isfinite(x).all()
    torch.testing.assert_close(log_det, torch.full_like(log_det, 1.5))
    torch.testing.assert_close(layer.inverse(x)[0], z)


def test_affine_coupling_mask_is_a_boolean_buffer(device):
    layer = AffineCoupling(3, torch.tensor([0.0, 1.0, 0.0])).to(device)
    assert layer.mask.dtype == torch.bool and layer.mask.tolist() == [False, True, False]
    assert "mask" in layer.state_dict()
    assert layer.mask.device.type == torch.device(device).type


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        ([True, False], TypeError, r"mask must be a torch.Tensor of shape \(2,\)"),
        (torch.tensor([True, False, True]), ValueError, r"mask must have shape \(2,\)"),
        (torch.tensor([0, 2]), ValueError, r"mask must be boolean or hold only 0 and 1"),
        (torch.tensor([True, True]), ValueError, r"mask must have at least one True entry"),
        (torch.tensor([0, 0]), ValueError, r"mask must have at least one True entry"),
    ],
)
def test_affine_coupling_rejects_bad_masks(mask, error, message):
    with pytest.raises(error, match=message):
        AffineCoupling(2, mask)


def test_affine_coupling_uses_a_custom_conditioner(device, dtype):
    sizes = []

    def linear(features_in, features_out):
        sizes.append((features_in, features_out))
        return nn.Linear(features_in, features_out)

    layer = AffineCoupling(5, torch.tensor([1, 1, 0, 0, 0]), conditioner=linear)
    assert sizes == [(2, 6)] and isinstance(layer.conditioner, nn.Linear)
    layer = randomized(layer).to(device, dtype)
    z = draw((3, 5), device=device, dtype=dtype)
    torch.testing.assert_close(layer.inverse(layer(z)[0])[0], z)


def test_affine_coupling_rejects_bad_conditioners():
    mask = torch.tensor([True, False])
    with pytest.raises(TypeError, match=r"conditioner must build an nn.Module"):
        AffineCoupling(2, mask, conditioner=lambda i, o: (lambda x: x))
    with pytest.raises(TypeError, match=r"conditioner must be None or a factory"):
        AffineCoupling(2, mask, conditioner=nn.Linear(1, 2).weight)
    layer = AffineCoupling(2, mask, conditioner=lambda i, o: nn.Linear(i, 3 * o))
    with pytest.raises(ValueError, match=r"the conditioner must output 2 \* 1 = 2 values"):
        layer(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"scale_bound must be a finite positive number"):
        AffineCoupling(2, mask, scale_bound=0.0)


def test_mlp_starts_at_zero_and_has_the_requested_shape():
    net = mlp(3, 4, hidden_features=5, hidden_layers=3)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 5), (5, 5), (5, 5), (5, 4)]
    assert torch.equal(net(torch.randn(2, 3)), torch.zeros(2, 4))
    assert isinstance(mlp(3, 4, hidden_layers=0), nn.Sequential)


# realnvp


def test_realnvp_starts_at_the_standard_normal(device, dtype):
    flow = realnvp(3, layers=4, hidden_features=8, seed=0).to(device, dtype)
    x = draw((10, 3), device=device, dtype=dtype)
    base = standard_normal(3, device=device, dtype=dtype)
    torch.testing.assert_close(flow.log_prob(x), base.log_prob(x))


def test_realnvp_alternate_masks_alternate():
    flow = realnvp(4, layers=3, hidden_features=8, seed=0)
    masks = [layer.mask.tolist() for layer in flow.transform]
    first_half, second_half = [True, True, False, False], [False, False, True, True]
    assert masks == [first_half, second_half, first_half]


@pytest.mark.parametrize(
    ("permutation", "kind"), [("reverse", ReversePermutation), ("random", RandomPermutation)]
)
def test_realnvp_places_permutations_between_couplings(permutation, kind):
    flow = realnvp(3, layers=3, hidden_features=8, permutation=permutation, seed=0)
    kinds = [type(t) for t in flow.transform]
    assert kinds == [AffineCoupling, kind, AffineCoupling, kind, AffineCoupling]
    assert all(t.mask.tolist() == [True, False, False] for t in flow.transform[::2])


def test_realnvp_transforms_every_feature(device, dtype):
    flow = randomized(realnvp(3, layers=3, hidden_features=8, seed=0), scale=0.2)
    flow = flow.to(device, dtype)
    z = draw((3,), device=device, dtype=dtype)
    jacobian = torch.autograd.functional.jacobian(lambda v: flow.transform(v)[0], z)
    assert (jacobian.abs() > 0).all()


def test_realnvp_repeats_with_its_seed():
    first = realnvp(3, layers=3, permutation="random", seed=2)
    second = realnvp(3, layers=3, permutation="random", seed=2)
    assert isinstance(first, Flow)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    third = realnvp(3, layers=3, permutation="random", seed=3)
    weights = [flow.transform[0].conditioner[0].weight for flow in (first, third)]
    assert not torch.equal(*weights)


def test_realnvp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="features must be at least 2 for a coupling flow"):
        realnvp(1)
    with pytest.raises(ValueError, match="permutation must be one of 'alternate', 'reverse'"):
        realnvp(2, permutation="shuffle")
    with pytest.raises(ValueError, match="layers must be a positive integer"):
        realnvp(2, layers=0)
    with pytest.raises(ValueError, match="hidden_features must be a positive integer"):
        realnvp(2, hidden_features=0)


def test_realnvp_bounds_every_log_scale_by_its_scale_bound():
    flow = realnvp(2, layers=3, hidden_features=8, scale_bound=0.5, seed=0)
    assert [layer.scale_bound for layer in flow.transform] == [0.5] * 3
    with torch.no_grad():
        for layer in flow.transform:
            layer.conditioner[-1].bias[1:].fill_(1e4)  # raw log-scales far above the bound
    x = draw((6, 2), device="cpu", dtype=torch.float32)
    # Each of the three couplings scales its feature by exp(0.5): log-det 1.5 in all.
    _, log_det = flow.transform(x)
    torch.testing.assert_close(log_det, torch.full_like(log_det, 1.5))
    with pytest.raises(ValueError, match="scale_bound must be a finite positive number"):
        realnvp(2, scale_bound=0.0)


def test_affine_coupling_function_is_the_module_with_its_conditioner():
    from course_lib.flows import affine_coupling
    from course_lib.grading import coupling_cases

    for z, mask, conditioner in coupling_cases(seed=7):
        layer = AffineCoupling(z.shape[1], mask, conditioner=lambda i, o, c=conditioner: c)
        layer = layer.double()
        for inverse, method in ((False, layer), (True, layer.inverse)):
            out, log_det = affine_coupling(z, mask, conditioner, inverse=inverse)
            expected, expected_log_det = method(z)
            torch.testing.assert_close(out, expected)
            torch.testing.assert_close(log_det, expected_log_det)


def test_affine_coupling_function_names_a_conditioner_of_the_wrong_width():
    from course_lib.flows import affine_coupling

    with pytest.raises(ValueError, match="conditioner must output 2 \\* 1 = 2"):
        affine_coupling(torch.zeros(3, 2), torch.tensor([True, False]), lambda z_a: z_a)
