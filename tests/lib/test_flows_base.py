"""Tests for course_lib.flows.base: the Transform contract for every transform, Compose, Flow.

The contract tests run on every transform of course_lib.flows, initialised away
from the identity, so a failure names the transform. Module-specific tests live
in the test file of each module.
"""

import math

import pytest
import torch
from torch import nn
from torch.distributions import (
    Independent,
    MultivariateNormal,
    Normal,
    TransformedDistribution,
    Uniform,
)

from flow_testing import randomized
from course_lib.flows import (
    Affine,
    AffineCoupling,
    CholeskyAffine,
    Compose,
    Flow,
    HouseholderReflection,
    Permutation,
    PlanarTransform,
    RandomPermutation,
    ReversePermutation,
    SinhArcsinh,
    Transform,
    planar_flow,
    realnvp,
    standard_normal,
    to_torch_transform,
)
from course_lib.grading import check_invertible, check_log_det
from course_lib.training import fit


def tolerances(dtype):
    return {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}


def points(shape, *, device, dtype, seed=1, scale=1.0):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(device, dtype)


# Every transform of course_lib.flows, away from the identity.
TRANSFORMS = {
    "Affine": lambda: randomized(Affine(3)),
    "SinhArcsinh": lambda: randomized(SinhArcsinh(3), scale=0.3),
    "CholeskyAffine": lambda: randomized(CholeskyAffine(3)),
    "Permutation": lambda: Permutation(torch.tensor([1, 2, 0])),
    "ReversePermutation": lambda: ReversePermutation(3),
    "RandomPermutation": lambda: RandomPermutation(5, seed=3),
    "HouseholderReflection": lambda: HouseholderReflection(3, reflections=2, seed=0),
    "PlanarTransform": lambda: randomized(PlanarTransform(3, seed=0), scale=0.7),
    "AffineCoupling": lambda: randomized(
        AffineCoupling(4, torch.tensor([1, 0, 1, 0]), hidden_features=8), scale=0.3
    ),
    "Compose": lambda: Compose(
        [
            randomized(CholeskyAffine(3), seed=1),
            randomized(PlanarTransform(3, seed=1), seed=2),
            ReversePermutation(3),
            randomized(AffineCoupling(3, torch.tensor([1, 0, 1]), hidden_features=8), 0.3),
            randomized(SinhArcsinh(3), scale=0.3, seed=3),
        ]
    ),
}


def make_transform(name, device, dtype):
    return TRANSFORMS[name]().to(device=device, dtype=dtype)


# The Transform contract, checked with the same functions the assignments' tests call.


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_inverse_recovers_input(name, device, dtype):
    transform = make_transform(name, device, dtype)
    z = points((16, transform.features), device=device, dtype=dtype)
    with torch.no_grad():
        assert not torch.allclose(transform(z)[0], z), "the transform should not be the identity"
        check_invertible(name, transform, transform.inverse, z, **tolerances(dtype))


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_forward_recovers_input(name, device, dtype):
    transform = make_transform(name, device, dtype)
    x = points((16, transform.features), device=device, dtype=dtype, seed=2, scale=2.0)
    with torch.no_grad():
        check_invertible(f"{name} inverse", transform.inverse, transform, x, **tolerances(dtype))


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_forward_log_det_matches_autograd_jacobian(name, device, dtype):
    transform = make_transform(name, device, dtype)
    z = points((5, transform.features), device=device, dtype=dtype)
    atol = 1e-7 if dtype == torch.float64 else 1e-3
    check_log_det(name, transform, z, rtol=1e-7, atol=atol)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_inverse_log_det_matches_autograd_jacobian(name, device, dtype):
    transform = make_transform(name, device, dtype)
    x = points((5, transform.features), device=device, dtype=dtype, seed=2, scale=2.0)
    atol = 1e-7 if dtype == torch.float64 else 1e-3
    check_log_det(f"{name} inverse", transform.inverse, x, rtol=1e-7, atol=atol)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_keeps_leading_batch_dimensions(name, device, dtype):
    transform = make_transform(name, device, dtype)
    z = points((2, 3, transform.features), device=device, dtype=dtype)
    x, log_det = transform(z)
    assert x.shape == z.shape and log_det.shape == (2, 3)
    assert x.dtype == log_det.dtype == dtype and x.device.type == log_det.device.type
    flat, flat_log_det = transform(z.reshape(6, -1))
    torch.testing.assert_close(x.reshape(6, -1), flat, **tolerances(dtype))
    torch.testing.assert_close(log_det.reshape(6), flat_log_det, **tolerances(dtype))
    single, single_log_det = transform.inverse(x[0, 0])
    assert single.shape == (transform.features,) and single_log_det.shape == ()


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_log_abs_det_jacobian_is_the_forward_log_det(name, device, dtype):
    transform = make_transform(name, device, dtype)
    z = points((4, transform.features), device=device, dtype=dtype)
    x, log_det = transform(z)
    torch.testing.assert_close(transform.log_abs_det_jacobian(z, x), log_det)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_works_inside_transformed_distribution(name, device, dtype):
    transform = make_transform(name, device, dtype)
    base = standard_normal(transform.features, device=device, dtype=dtype)
    flow = Flow(base, [transform])
    same = TransformedDistribution(base, [to_torch_transform(transform)])
    x = points((6, transform.features), device=device, dtype=dtype, seed=4)
    torch.testing.assert_close(same.log_prob(x), flow.log_prob(x), **tolerances(dtype))


@pytest.mark.parametrize("direction", ["forward", "inverse"])
@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_rejects_bad_points_naming_the_argument(name, direction, device, dtype):
    transform = make_transform(name, device, dtype)
    apply = getattr(transform, direction)
    argument = "z" if direction == "forward" else "x"
    features = transform.features
    good = points((4, features), device=device, dtype=dtype)
    with pytest.raises(ValueError, match=rf"{argument} must have shape \(\*batch, {features}\)"):
        apply(points((4, features + 1), device=device, dtype=dtype))
    with pytest.raises(ValueError, match=rf"{argument} must have shape"):
        apply(good[0, 0])
    bad = good.clone()
    bad[2, 0] = math.nan
    with pytest.raises(ValueError, match=rf"{argument} must contain only finite values"):
        apply(bad)
    with pytest.raises(TypeError, match=rf"{argument} must have a floating-point dtype"):
        apply(torch.ones(4, features, dtype=torch.int64, device=device))
    with pytest.raises(TypeError, match=rf"{argument} must be a torch.Tensor"):
        apply([[0.0] * features])


def test_transform_rejects_another_dtype_than_its_parameters(device):
    transform = randomized(Affine(2)).to(device=device, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"z must have the dtype of the flow's parameters"):
        transform(torch.zeros(3, 2, device=device, dtype=torch.float32))


def test_transform_is_abstract():
    with pytest.raises(TypeError):
        Transform(2)


# Compose


def test_compose_adds_log_dets_and_inverts_backwards(device, dtype):
    steps = [
        randomized(Affine(2), seed=1).to(device, dtype),
        randomized(PlanarTransform(2, seed=0), seed=2).to(device, dtype),
        ReversePermutation(2).to(device),
    ]
    composed = Compose(steps)
    z = points((8, 2), device=device, dtype=dtype)
    x, total = z, torch.zeros(8, device=device, dtype=dtype)
    for step in steps:
        x, log_det = step(x)
        total = total + log_det
    got, got_log_det = composed(z)
    torch.testing.assert_close(got, x)
    torch.testing.assert_close(got_log_det, total)
    back = x
    for step in reversed(steps):
        back, _ = step.inverse(back)
    torch.testing.assert_close(composed.inverse(x)[0], back)
    assert len(composed) == 3 and composed[1] is steps[1] and list(composed) == steps


def test_compose_rejects_bad_sequences():
    with pytest.raises(ValueError, match="transforms must hold at least one"):
        Compose([])
    with pytest.raises(ValueError, match=r"transforms\[1\] has 3"):
        Compose([Affine(2), Affine(3)])
    with pytest.raises(TypeError, match=r"transforms\[1\] must be a course_lib.flows Transform"):
        Compose([Affine(2), nn.Linear(2, 2)])
    with pytest.raises(TypeError, match=r"Wrap it in a list: \[transform\]"):
        Compose(Affine(2))


# Flow: every flow built here


def affine_sinh_arcsinh_flow():
    transforms = [
        randomized(CholeskyAffine(2), scale=0.3, seed=1),
        randomized(SinhArcsinh(2), scale=0.3, seed=2),
        randomized(Affine(2), scale=0.3, seed=3),
    ]
    return Flow(standard_normal(2), transforms)


FLOWS = {
    "planar_flow": lambda: randomized(planar_flow(2, layers=6, seed=0), scale=0.3),
    "realnvp": lambda: randomized(realnvp(2, layers=4, hidden_features=16, seed=0), scale=0.1),
    "realnvp_random_permutation": lambda: randomized(
        realnvp(3, layers=3, hidden_features=8, permutation="random", seed=0), scale=0.1
    ),
    "affine_sinh_arcsinh": affine_sinh_arcsinh_flow,
}
FLOWS_2D = [name for name in FLOWS if name != "realnvp_random_permutation"]


def make_flow(name, device, dtype):
    return FLOWS[name]().to(device=device, dtype=dtype)


@pytest.mark.parametrize("name", FLOWS_2D)
def test_flow_density_integrates_to_one(name, device, dtype):
    flow = make_flow(name, device, dtype)
    grid = torch.linspace(-10.0, 10.0, 201, device=device, dtype=dtype)
    x = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1)
    with torch.no_grad():
        density = flow.log_prob(x).exp()
    total = torch.trapezoid(torch.trapezoid(density, grid, dim=-1), grid)
    assert abs(float(total) - 1.0) < 1e-2


@pytest.mark.parametrize("name", FLOWS)
def test_flow_sample_shapes(name, device, dtype):
    flow = make_flow(name, device, dtype)
    features = flow.features
    assert isinstance(flow, torch.distributions.Distribution)
    assert flow.event_shape == (features,) and flow.batch_shape == ()
    assert flow.sample().shape == (features,)
    assert flow.sample((7, 3)).shape == (7, 3, features)
    assert flow.rsample((5,)).shape == (5, features)
    x, log_prob = flow.sample_and_log_prob((4, 2))
    assert x.shape == (4, 2, features) and log_prob.shape == (4, 2)
    assert x.dtype == dtype and x.device.type == torch.device(device).type


@pytest.mark.parametrize("name", FLOWS)
def test_flow_log_prob_of_samples_is_finite_and_consistent(name, device, dtype):
    flow = make_flow(name, device, dtype)
    x, log_prob = flow.sample_and_log_prob((200,))
    assert torch.isfinite(log_prob).all()
    with torch.no_grad():
        atol = 1e-6 if dtype == torch.float64 else 1e-3
        torch.testing.assert_close(flow.log_prob(x), log_prob, rtol=1e-6, atol=atol)


@pytest.mark.parametrize("name", FLOWS)
def test_flow_sample_has_no_graph(name, device, dtype):
    flow = make_flow(name, device, dtype)
    assert not flow.sample((3,)).requires_grad
    assert not any(t.requires_grad for t in flow.sample_and_log_prob((3,)))


@pytest.mark.parametrize("name", FLOWS)
def test_flow_rsample_gradients_reach_every_parameter(name, device, dtype):
    flow = make_flow(name, device, dtype)
    x, log_prob = flow.rsample_and_log_prob((64,))
    (x.square().sum() + log_prob.sum()).backward()
    for parameter_name, parameter in flow.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", FLOWS)
def test_flow_log_prob_gradients_reach_every_parameter(name, device, dtype):
    flow = make_flow(name, device, dtype)
    x = points((64, flow.features), device=device, dtype=dtype, scale=1.5)
    flow.log_prob(x).sum().backward()
    for parameter_name, parameter in flow.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", FLOWS)
def test_flow_equals_transformed_distribution(name, device, dtype):
    flow = make_flow(name, device, dtype)
    same = TransformedDistribution(flow.base, [to_torch_transform(flow.transform)])
    x = points((32, flow.features), device=device, dtype=dtype)
    torch.testing.assert_close(same.log_prob(x), flow.log_prob(x), **tolerances(dtype))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        ours = flow.rsample((5,))
        torch.manual_seed(3)
        theirs = same.rsample((5,))
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("name", FLOWS)
def test_flow_state_dict_round_trip(name, device, dtype):
    flow = make_flow(name, device, dtype)
    fresh = FLOWS[name]().to(device=device, dtype=dtype)
    with torch.no_grad():
        for parameter in fresh.parameters():
            parameter.zero_()
    fresh.load_state_dict(flow.state_dict())
    x = points((8, flow.features), device=device, dtype=dtype)
    torch.testing.assert_close(fresh.log_prob(x), flow.log_prob(x))


def test_flow_survives_save_load_and_has_a_readable_repr(tmp_path):
    flow = FLOWS["realnvp_random_permutation"]()
    torch.save(flow, tmp_path / "flow.pt")
    loaded = torch.load(tmp_path / "flow.pt", weights_only=False)
    x = points((8, 3), device="cpu", dtype=torch.float32)
    torch.testing.assert_close(loaded.log_prob(x), flow.log_prob(x))
    text = repr(flow)
    assert text.startswith("Flow(") and "AffineCoupling(" in text and "RandomPermutation(" in text


def test_flow_log_prob_of_an_affine_flow_is_gaussian(device, dtype):
    affine = randomized(Affine(2)).to(device, dtype)
    flow = Flow(standard_normal(2, device=device, dtype=dtype), [affine])
    x = points((10, 2), device=device, dtype=dtype)
    normal = Independent(Normal(affine.loc, affine.log_scale.exp()), 1)
    torch.testing.assert_close(flow.log_prob(x), normal.log_prob(x), **tolerances(dtype))


def test_flow_moves_its_base_with_to(device):
    flow = Flow(standard_normal(2), [Affine(2)])
    assert {"base_loc", "base_scale"} <= set(flow.state_dict())
    flow = flow.to(device=device, dtype=torch.float64)
    assert flow.base.base_dist.loc.dtype == torch.float64
    assert flow.base.base_dist.scale.device.type == torch.device(device).type
    assert flow.log_prob(torch.zeros(2, device=device, dtype=torch.float64)).dtype == torch.float64


def test_flow_accepts_other_bases_and_trainable_ones():
    loc = nn.Parameter(torch.zeros(2))
    flow = Flow(Independent(Normal(loc, torch.ones(2)), 1), [Affine(2)])
    assert any(p is loc for p in flow.parameters())
    uniform = Flow(Independent(Uniform(-torch.ones(2), torch.ones(2)), 1), [Affine(2)])
    assert uniform.log_prob(torch.zeros(2)).item() == pytest.approx(-math.log(4.0))
    gaussian = Flow(MultivariateNormal(torch.zeros(2), torch.eye(2)), [Affine(2)])
    assert gaussian.sample((3,)).shape == (3, 2)


def test_flow_rejects_bad_bases_and_transforms():
    with pytest.raises(TypeError, match="base must be a torch.distributions.Distribution"):
        Flow(torch.zeros(2), [Affine(2)])
    with pytest.raises(ValueError, match=r"base must have event_shape .* Independent\(base, 1\)"):
        Flow(Normal(torch.zeros(2), torch.ones(2)), [Affine(2)])
    with pytest.raises(ValueError, match="transforms must act on the base's 2 features"):
        Flow(standard_normal(2), [Affine(3)])
    with pytest.raises(TypeError, match="transforms must be a sequence of Transform"):
        Flow(standard_normal(2), Affine(2))
    with pytest.raises(ValueError, match="sample_shape must be"):
        Flow(standard_normal(2), [Affine(2)]).sample((-1,))


def test_flow_log_prob_rejects_bad_points(device):
    flow = Flow(standard_normal(2), [Affine(2)]).to(device)
    with pytest.raises(ValueError, match=r"x must have shape \(\*batch, 2\)"):
        flow.log_prob(torch.zeros(5, 3, device=device))
    with pytest.raises(ValueError, match="x must contain only finite values"):
        flow.log_prob(torch.tensor([[0.0, math.inf]], device=device))
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        flow.log_prob(torch.zeros(5, 2, dtype=torch.int32, device=device))
    with pytest.raises(TypeError, match="x must have the dtype of the flow's parameters"):
        flow.log_prob(torch.zeros(5, 2, dtype=torch.float64, device=device))


def test_flow_without_rsample_says_so():
    class NoReparametrization(Independent):
        has_rsample = False

    flow = Flow(NoReparametrization(Normal(torch.zeros(2), torch.ones(2)), 1), [Affine(2)])
    assert flow.sample((3,)).shape == (3, 2) and not flow.has_rsample
    with pytest.raises(NotImplementedError, match="has no rsample"):
        flow.rsample((3,))


def test_to_torch_transform_rejects_other_objects():
    with pytest.raises(TypeError, match="transform must be a course_lib.flows Transform"):
        to_torch_transform(nn.Linear(2, 2))


def test_standard_normal_follows_device_and_dtype(device):
    base = standard_normal(3, device=device, dtype=torch.float64)
    assert base.event_shape == (3,) and base.batch_shape == ()
    assert base.sample().dtype == torch.float64
    assert base.sample().device.type == torch.device(device).type
    with pytest.raises(ValueError, match="features must be a positive integer"):
        standard_normal(0)


def test_realnvp_fitted_with_fit_reaches_the_entropy_of_a_gaussian(device, dtype):
    # A correlated Gaussian; its held-out negative log-likelihood estimates its entropy.
    generator = torch.Generator().manual_seed(1)
    mean = torch.tensor([1.0, -0.5], dtype=torch.float64)
    scale_tril = torch.linalg.cholesky(torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64))
    x = mean + torch.randn(4000, 2, generator=generator, dtype=torch.float64) @ scale_tril.mT
    x = x.to(device, dtype)
    train, held_out = x[:2000], x[2000:]
    truth = MultivariateNormal(mean.to(device, dtype), scale_tril=scale_tril.to(device, dtype))
    flow = realnvp(2, layers=2, hidden_features=16, seed=0).to(device, dtype)

    def nll(flow, x):
        return -flow.log_prob(x).mean()

    fit(flow, nll, train, steps=300, batch_size=250, lr=1e-2, seed=0, progress=False)
    with torch.no_grad():
        before = nll(realnvp(2, layers=2, hidden_features=16, seed=0).to(device, dtype), held_out)
        after = nll(flow, held_out)
        best = -truth.log_prob(held_out).mean()
    assert abs(float(best) - float(truth.entropy())) < 0.05  # the held-out estimate is fair
    assert float(before) - float(best) > 0.5
    assert float(after) - float(best) < 0.1
