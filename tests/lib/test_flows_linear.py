"""Tests for course_lib.flows.linear: Cholesky affine maps, permutations, Householder."""

import pytest
import torch
from torch.distributions import MultivariateNormal

from flow_testing import randomized
from course_lib.flows import (
    CholeskyAffine,
    Flow,
    HouseholderReflection,
    Permutation,
    RandomPermutation,
    ReversePermutation,
    standard_normal,
)


def draw(shape, *, device, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(device, dtype)


# CholeskyAffine


def test_cholesky_affine_flow_equals_multivariate_normal(device, dtype):
    transform = randomized(CholeskyAffine(4)).to(device, dtype)
    flow = Flow(standard_normal(4, device=device, dtype=dtype), [transform])
    with torch.no_grad():
        normal = MultivariateNormal(transform.loc, scale_tril=transform.scale_tril)
    x = draw((20, 4), device=device, dtype=dtype, seed=1)
    torch.testing.assert_close(flow.log_prob(x), normal.log_prob(x))


def test_cholesky_affine_scale_tril_and_covariance(device, dtype):
    transform = randomized(CholeskyAffine(3)).to(device, dtype)
    scale_tril = transform.scale_tril
    assert torch.equal(scale_tril, scale_tril.tril())
    torch.testing.assert_close(scale_tril.diagonal(), transform.log_diagonal.exp())
    torch.testing.assert_close(transform.covariance, scale_tril @ scale_tril.T)
    z = draw((7, 3), device=device, dtype=dtype)
    torch.testing.assert_close(transform(z)[0], transform.loc + z @ scale_tril.T)
    assert transform.off_diagonal.shape == (3,)


def test_cholesky_affine_starts_at_the_identity(device, dtype):
    transform = CholeskyAffine(3).to(device, dtype)
    z = draw((4, 3), device=device, dtype=dtype)
    x, log_det = transform(z)
    assert torch.equal(x, z) and torch.equal(log_det, torch.zeros_like(log_det))
    assert torch.equal(transform.covariance, torch.eye(3, device=device, dtype=dtype))


def test_cholesky_affine_with_one_feature(device, dtype):
    transform = randomized(CholeskyAffine(1)).to(device, dtype)
    z = draw((4, 1), device=device, dtype=dtype)
    x, log_det = transform(z)
    torch.testing.assert_close(x, transform.loc + transform.log_diagonal.exp() * z)
    torch.testing.assert_close(transform.inverse(x)[0], z)


# Permutations


def test_permutation_reorders_features(device, dtype):
    transform = Permutation(torch.tensor([2, 0, 1])).to(device)
    z = torch.tensor([[10.0, 11.0, 12.0]], device=device, dtype=dtype)
    x, log_det = transform(z)
    assert x.tolist() == [[12.0, 10.0, 11.0]] and log_det.tolist() == [0.0]
    assert transform.inverse(x)[0].tolist() == z.tolist()
    assert log_det.dtype == dtype


def test_reverse_permutation_reverses():
    assert ReversePermutation(4).permutation.tolist() == [3, 2, 1, 0]


def test_random_permutation_repeats_with_its_seed():
    first = RandomPermutation(10, seed=4).permutation
    assert torch.equal(first, RandomPermutation(10, seed=4).permutation)
    assert not torch.equal(first, RandomPermutation(10, seed=5).permutation)
    assert sorted(first.tolist()) == list(range(10))
    generator = torch.Generator().manual_seed(4)
    assert torch.equal(RandomPermutation(10, seed=generator).permutation, first)


def test_permutation_is_a_buffer_that_moves_and_saves(device):
    transform = Permutation(torch.tensor([1, 0]))
    assert set(transform.state_dict()) == {"permutation", "inverse_permutation"}
    assert transform.to(device).permutation.device.type == torch.device(device).type
    assert list(transform.parameters()) == []


@pytest.mark.parametrize(
    ("permutation", "error", "message"),
    [
        (torch.tensor([0, 0, 2]), ValueError, r"permutation must hold each of 0, ..., 2 exactly"),
        (torch.tensor([1, 2, 3]), ValueError, r"permutation must hold each of 0, ..., 2 exactly"),
        (torch.tensor([[0, 1]]), ValueError, r"permutation must be a non-empty 1-D tensor"),
        (torch.tensor([], dtype=torch.long), ValueError, r"permutation must be a non-empty"),
        (torch.tensor([1.0, 0.0]), TypeError, r"permutation must have an integer dtype"),
        ([1, 0], TypeError, r"permutation must be a torch.Tensor"),
    ],
)
def test_permutation_rejects_non_permutations(permutation, error, message):
    with pytest.raises(error, match=message):
        Permutation(permutation)


def test_permutation_constructors_check_features():
    with pytest.raises(ValueError, match="features must be a positive integer"):
        ReversePermutation(0)
    with pytest.raises(TypeError, match="features must be a positive integer"):
        RandomPermutation(2.0)


# Householder reflections


def test_householder_equals_the_product_of_its_matrices(device, dtype):
    transform = HouseholderReflection(4, reflections=3, seed=1).to(device, dtype)
    matrix = torch.eye(4, device=device, dtype=dtype)
    for v in transform.vectors.detach():
        reflection = torch.eye(4, device=device, dtype=dtype) - 2 * torch.outer(v, v) / (v @ v)
        matrix = reflection @ matrix
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(4, device=device, dtype=dtype))
    z = draw((6, 4), device=device, dtype=dtype)
    x, log_det = transform(z)
    torch.testing.assert_close(x, z @ matrix.T)
    assert torch.equal(log_det, torch.zeros(6, device=device, dtype=dtype))


def test_householder_repeats_with_its_seed():
    first = HouseholderReflection(3, 2, seed=0).vectors
    assert torch.equal(first, HouseholderReflection(3, 2, seed=0).vectors)
    assert first.shape == (2, 3)


def test_householder_in_one_dimension_flips_the_sign(device, dtype):
    transform = HouseholderReflection(1, seed=0).to(device, dtype)
    z = draw((3, 1), device=device, dtype=dtype)
    torch.testing.assert_close(transform(z)[0], -z)


def test_householder_with_a_zero_vector_says_so(device):
    transform = HouseholderReflection(3, reflections=2, seed=0).to(device)
    with torch.no_grad():
        transform.vectors[1].zero_()
    with pytest.raises(ValueError, match=r"vectors\[1\] has squared norm 0"):
        transform(torch.zeros(2, 3, device=device))
    with pytest.raises(ValueError, match=r"vectors\[1\]"):
        transform.inverse(torch.zeros(2, 3, device=device))


def test_householder_rejects_bad_reflections():
    with pytest.raises(ValueError, match="reflections must be a positive integer"):
        HouseholderReflection(3, reflections=0)
