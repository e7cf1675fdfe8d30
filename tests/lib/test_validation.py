"""Tests for course_lib._validation: the argument checks behind every public function."""

import math

import numpy as np
import pytest
import torch

from course_lib._validation import (
    check_binary,
    check_choice,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    seeded_init,
)


def test_check_tensor_returns_its_argument():
    x = torch.zeros(3, 2)
    assert check_tensor("x", x, ndim=2, shape=(None, 2), floating=True) is x


@pytest.mark.parametrize("value", [[1.0, 2.0], np.zeros(3), 1.5, None])
def test_check_tensor_rejects_non_tensors_naming_the_fix(value):
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor; got .*torch.as_tensor"):
        check_tensor("x", value)


def test_check_tensor_wrong_ndim_names_argument_and_shapes():
    with pytest.raises(ValueError, match=r"x must be 2-D; got a 1-D tensor of shape \(4,\)"):
        check_tensor("x", torch.zeros(4), ndim=2)


def test_check_tensor_wrong_shape_shows_expected_and_got():
    with pytest.raises(ValueError, match=r"beta must have shape \(3,\); got \(2,\)"):
        check_tensor("beta", torch.zeros(2), shape=(3,))


def test_check_tensor_none_in_shape_matches_any_size():
    check_tensor("x", torch.zeros(7, 3), shape=(None, 3))
    with pytest.raises(ValueError, match=r"\(\*, 3\)"):
        check_tensor("x", torch.zeros(7, 2), shape=(None, 3))


def test_check_tensor_hint_replaces_generic_fix():
    with pytest.raises(ValueError, match="use alpha.reshape"):
        check_tensor("alpha", torch.zeros(1), shape=(), hint="use alpha.reshape(())")


def test_check_tensor_non_finite_counts_and_locates_first():
    x = torch.zeros(3, 4)
    x[1, 2] = math.nan
    x[2, 0] = math.inf
    with pytest.raises(ValueError, match=r"2 non-finite values, the first nan at index \(1, 2\)"):
        check_tensor("x", x)


def test_check_tensor_finite_false_allows_nan():
    check_tensor("x", torch.tensor([math.nan]), finite=False)


def test_check_tensor_floating_rejects_integers():
    with pytest.raises(TypeError, match=r"x must have a floating-point dtype; got torch.int64"):
        check_tensor("x", torch.arange(3), floating=True)


def test_check_binary_accepts_float_int_and_bool_labels():
    for y in (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), torch.tensor([False, True])):
        assert check_binary("y", y) is y


def test_check_binary_shows_an_offending_value():
    with pytest.raises(ValueError, match=r"y must contain only 0 and 1; got 2.0 at index 2"):
        check_binary("y", torch.tensor([0.0, 1.0, 2.0, 0.5]))


def test_check_binary_checks_length_against_batch():
    with pytest.raises(ValueError, match=r"y must have shape \(5,\) to match the 5 rows of x"):
        check_binary("y", torch.zeros(4), batch=5)


def test_check_seed_int_repeats():
    a = torch.randn(5, generator=check_seed(3))
    b = torch.randn(5, generator=check_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.randn(5, generator=check_seed(4)))


def test_check_seed_returns_a_given_generator_itself():
    generator = torch.Generator().manual_seed(1)
    assert check_seed(generator) is generator


def test_check_seed_is_always_a_cpu_generator():
    for seed in (0, None, torch.Generator()):
        assert check_seed(seed).device == torch.device("cpu")


def test_check_seed_none_follows_the_global_generator():
    torch.manual_seed(123)
    a = torch.rand(3, generator=check_seed(None))
    torch.manual_seed(123)
    b = torch.rand(3, generator=check_seed(None))
    assert torch.equal(a, b)


def test_check_seed_accepts_numpy_integers():
    assert torch.equal(
        torch.rand(2, generator=check_seed(np.int64(5))), torch.rand(2, generator=check_seed(5))
    )


@pytest.mark.parametrize("seed", [True, 1.5, "0", [0]])
def test_check_seed_rejects_other_types(seed):
    with pytest.raises(TypeError, match="seed must be an int, a torch.Generator or None"):
        check_seed(seed)


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_check_seed_rejects_out_of_range_ints(seed):
    with pytest.raises(ValueError, match="seed must be an integer between 0 and 2\\*\\*64 - 1"):
        check_seed(seed)


def test_seeded_init_repeats_layer_initialization_and_restores_global_state():
    before = torch.random.get_rng_state()
    with seeded_init(0):
        a = torch.nn.Linear(3, 2).weight.detach()
    assert torch.equal(torch.random.get_rng_state(), before)
    with seeded_init(0):
        b = torch.nn.Linear(3, 2).weight.detach()
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (-2, ValueError), (1.0, TypeError), (True, TypeError)]
)
def test_check_positive_int_rejects(value, error):
    with pytest.raises(error, match="steps must be a positive integer"):
        check_positive_int("steps", value)


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan])
def test_check_positive_float_rejects(value):
    with pytest.raises(ValueError, match="lr must be a finite positive number"):
        check_positive_float("lr", value)


def test_check_choice_lists_the_options():
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum'; got 'avg'"):
        check_choice("reduction", "avg", ("mean", "sum"))
