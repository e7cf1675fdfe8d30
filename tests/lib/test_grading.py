"""Tests for course_lib.grading: the checks that nbgrader test cells call."""

import math
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.grading import check_close, check_function, check_tensor_like, logit_cases, quiet
from course_lib.logit import logit_nll


def stable_nll(x, y, beta, alpha):
    """A correct student answer, written differently from the reference."""
    eta = alpha + x @ beta
    return (F.softplus(eta) - y * eta).mean()


def naive_nll(x, y, beta, alpha):
    """The literal formula: fine for moderate utilities, nan for large ones."""
    p = torch.sigmoid(alpha + x @ beta)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


# check_tensor_like


def test_check_tensor_like_passes_a_matching_tensor():
    assert check_tensor_like("f", torch.zeros(3), torch.ones(3)) is None


@pytest.mark.parametrize(
    ("actual", "words"),
    [
        (0.5, ["logit_nll returned a float; expected a torch.Tensor of shape ()", ".item()"]),
        (None, ["logit_nll returned None", "return statement"]),
        (np.float64(0.5), ["numpy", "expected a torch.Tensor"]),
        ((torch.zeros(()),), ["returned a tuple", "single tensor"]),
    ],
)
def test_check_tensor_like_wrong_type(actual, words):
    with pytest.raises(AssertionError) as info:
        check_tensor_like("logit_nll", actual, torch.zeros(()))
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("actual_shape", "expected_shape", "words"),
    [
        ((64,), (), ["returned shape (64,), expected ()", ".mean()"]),
        ((64, 64), (64,), ["returned shape (64, 64), expected (64,)", "broadcasting"]),
        ((64, 1), (64,), ["returned shape (64, 1), expected (64,)", "squeeze"]),
        ((3,), (3, 2), ["returned shape (3,), expected (3, 2)", "dimension is missing"]),
    ],
)
def test_check_tensor_like_wrong_shape(actual_shape, expected_shape, words):
    with pytest.raises(AssertionError) as info:
        check_tensor_like("logit_nll", torch.zeros(actual_shape), torch.zeros(expected_shape))
    for word in words:
        assert word in str(info.value)


def test_check_tensor_like_wrong_dtype():
    with pytest.raises(AssertionError, match="dtype torch.float32, expected torch.float64"):
        check_tensor_like("f", torch.zeros(2), torch.zeros(2, dtype=torch.float64))


def test_check_tensor_like_wrong_device():
    with pytest.raises(AssertionError, match="returned a tensor on meta, expected cpu"):
        check_tensor_like("f", torch.zeros(2, device="meta"), torch.zeros(2))


def test_check_tensor_like_nan_names_the_index():
    actual = torch.tensor([0.0, 1.0, 2.0, math.nan])
    with pytest.raises(AssertionError, match="logit_nll returned nan at index 3"):
        check_tensor_like("logit_nll", actual, torch.zeros(4))
    with pytest.raises(AssertionError, match="returned inf"):
        check_tensor_like("f", torch.tensor(math.inf), torch.zeros(()))


def test_check_tensor_like_blames_the_test_for_a_bad_reference():
    with pytest.raises(TypeError, match="problem with the test"):
        check_tensor_like("f", torch.zeros(2), [0.0, 0.0])


# check_close


def test_check_close_passes_within_tolerance():
    check_close("f", torch.tensor([1.0, 2.0]), torch.tensor([1.00005, 2.0]))


def test_check_close_reports_the_largest_difference_with_index_and_values():
    actual = torch.tensor([0.0, 1.0, 1.1, 1.20, 5.0])
    expected = torch.tensor([0.0, 1.0, 1.0, 0.89, 5.0])
    with pytest.raises(AssertionError) as info:
        check_close("logit_nll", actual, expected)
    message = str(info.value)
    assert "logit_nll differs from the reference by 0.31 at index 3" in message
    assert "(got 1.2, expected 0.89)" in message
    assert "2 of 5 values differ" in message


def test_check_close_shows_enough_digits_to_tell_values_apart():
    with pytest.raises(AssertionError, match=r"got 1\.2346, expected 1\.2345"):
        check_close("f", torch.tensor(1.2346, dtype=torch.float64),
                    torch.tensor(1.2345, dtype=torch.float64), rtol=0, atol=1e-6)


def test_check_close_multi_dimensional_index():
    expected = torch.zeros(2, 3)
    actual = expected.clone()
    actual[1, 2] = 1.0
    with pytest.raises(AssertionError, match=r"at index \(1, 2\)"):
        check_close("f", actual, expected)


def test_check_close_scalar_message_has_no_index():
    with pytest.raises(AssertionError) as info:
        check_close("f", torch.tensor(1.0), torch.tensor(2.0))
    assert "index" not in str(info.value)


def test_check_close_accepts_python_numbers_when_both_are_scalars():
    check_close("f", 0.5, 0.5)
    check_close("f", torch.tensor(0.5), 0.5)
    with pytest.raises(AssertionError, match="differs"):
        check_close("f", 0.5, 0.6)
    with pytest.raises(AssertionError, match="returned a float; expected a torch.Tensor"):
        check_close("f", 0.5, torch.tensor(0.5))


def test_check_close_does_not_truncate_a_float_reference_for_an_int_answer():
    check_close("count", torch.tensor(3), 3)
    with pytest.raises(AssertionError, match="dtype torch.int64, expected torch.float64"):
        check_close("count", torch.tensor(3), 3.5)


def test_check_close_runs_check_tensor_like_first():
    with pytest.raises(AssertionError, match="returned shape"):
        check_close("f", torch.zeros(3), torch.zeros(()))
    with pytest.raises(AssertionError, match="returned nan"):
        check_close("f", torch.tensor([math.nan]), torch.tensor([0.0]))


def test_check_close_ignores_gradient_tracking():
    check_close("f", torch.ones(2, requires_grad=True) * 1.0, torch.ones(2))


# check_function


def test_check_function_passes_a_correct_function():
    check_function(stable_nll, logit_nll, logit_cases(seed=0), name="logit_nll")
    check_function(stable_nll, logit_nll, logit_cases(seed=0, extreme=True), name="logit_nll")


def test_check_function_names_the_case_and_its_shapes():
    def off_by_one(x, y, beta, alpha):
        result = logit_nll(x, y, beta, alpha)
        return result + 1.0 if x.shape == (5, 3) else result

    with pytest.raises(AssertionError) as info:
        check_function(off_by_one, logit_nll, logit_cases(seed=0), name="logit_nll")
    message = str(info.value)
    assert "logit_nll differs from the reference by 1" in message
    assert "on case #2 (x: (5, 3), y: (5,), beta: (3,), alpha: ())" in message


def test_check_function_catches_the_naive_formula_on_extreme_cases():
    check_function(naive_nll, logit_nll, logit_cases(seed=0), name="logit_nll")
    with pytest.raises(AssertionError, match=r"logit_nll returned (nan|inf).*on case #1"):
        check_function(naive_nll, logit_nll, logit_cases(seed=0, extreme=True)[:1],
                       name="logit_nll")


def test_check_function_reports_a_missing_reduction():
    def unreduced(x, y, beta, alpha):
        return logit_nll(x, y, beta, alpha, reduction="none")

    with pytest.raises(AssertionError, match=r"returned shape \(1,\), expected \(\).*case #1"):
        check_function(unreduced, logit_nll, logit_cases(seed=0), name="logit_nll")


def test_check_function_spots_a_sum_in_place_of_a_mean():
    def summed(x, y, beta, alpha):
        return logit_nll(x, y, beta, alpha, reduction="sum")

    with pytest.raises(AssertionError, match=r"case #2 .*5 times the reference: a sum where"):
        check_function(summed, logit_nll, logit_cases(seed=0), name="logit_nll")


def test_check_function_lets_student_errors_through_with_a_note():
    def stub(x, y, beta, alpha):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as info:
        check_function(stub, logit_nll, logit_cases(seed=0), name="logit_nll")
    assert any("case #1" in note for note in info.value.__notes__)


def test_check_function_isolates_input_mutation():
    def mutating(x, y, beta, alpha):
        result = logit_nll(x, y, beta, alpha)
        x.mul_(100.0)
        beta.zero_()
        return result

    cases = logit_cases(seed=0)
    originals = [tuple(t.clone() for t in case) for case in cases]
    check_function(mutating, logit_nll, cases, name="logit_nll")
    for case, original in zip(cases, originals, strict=True):
        for t, o in zip(case, original, strict=True):
            assert torch.equal(t, o)


def test_check_function_reference_cannot_be_fooled_by_mutation_before_it_runs():
    seen = []

    def reference(x):
        seen.append(x.clone())
        return x * 2

    def student(x):
        x.fill_(0.0)
        return torch.zeros_like(x)

    with pytest.raises(AssertionError, match="differs"):
        check_function(student, reference, [(torch.ones(3),)])
    assert torch.equal(seen[0], torch.ones(3))


def test_check_function_accepts_keyword_cases_and_tuple_outputs():
    def reference(a, b):
        return a + b, a * b

    def student(a, b):
        return (b + a, b * a)

    check_function(student, reference, [{"a": torch.ones(2), "b": torch.full((2,), 3.0)}])

    def wrong_second(a, b):
        return a + b, a * b + 1

    with pytest.raises(AssertionError, match=r"f\[1\] differs .*case #1 \(a: \(2,\), b: \(2,\)\)"):
        check_function(wrong_second, reference,
                       [{"a": torch.ones(2), "b": torch.full((2,), 3.0)}], name="f")

    def single(a, b):
        return a + b

    with pytest.raises(AssertionError, match="returned 1 value.*expected a tuple of 2"):
        check_function(single, reference, [(torch.ones(2), torch.ones(2))])


def test_check_function_rejects_a_value_where_a_function_was_expected():
    with pytest.raises(AssertionError, match="expected a function"):
        check_function(1.0, logit_nll, logit_cases())


# Robustness and silence


def test_checks_are_not_fooled_by_monkeypatched_torch(monkeypatch):
    monkeypatch.setattr(torch, "allclose", lambda *args, **kwargs: True)
    monkeypatch.setattr(torch, "isclose", lambda a, b, *args, **kwargs: torch.ones_like(a).bool())
    monkeypatch.setattr(torch, "isfinite", lambda t: torch.ones_like(t, dtype=torch.bool))
    monkeypatch.setattr(torch, "equal", lambda *args: True)
    with pytest.raises(AssertionError, match="returned nan"):
        check_close("f", torch.tensor([math.nan]), torch.tensor([0.0]))
    with pytest.raises(AssertionError, match="differs"):
        check_close("f", torch.tensor([1.0]), torch.tensor([0.0]))
    with pytest.raises(AssertionError):
        check_function(naive_nll, logit_nll, logit_cases(seed=0, extreme=True))


def test_checks_write_nothing_to_stderr(capfd):
    def noisy(x, y, beta, alpha):
        warnings.warn("a student warning", stacklevel=1)
        print("progress", file=sys.stderr)
        return logit_nll(x, y, beta, alpha)

    check_function(noisy, logit_nll, logit_cases(seed=0))
    with pytest.raises(AssertionError):
        check_close("f", torch.tensor([1.0]), torch.tensor([0.0]))
    assert capfd.readouterr().err == ""


def test_quiet_silences_warnings_and_routes_stderr_to_stdout(capfd):
    with quiet():
        warnings.warn("hidden", stacklevel=1)
        print("to stdout", file=sys.stderr)
    captured = capfd.readouterr()
    assert captured.err == ""
    assert "to stdout" in captured.out and "hidden" not in captured.out


def test_quiet_silences_a_tqdm_bar(capfd):
    from course_lib.training import fit

    x = torch.randn(16, 1)
    with quiet():
        fit(torch.nn.Linear(1, 1), lambda m, x: m(x).pow(2).mean(), x, steps=3, progress=True)
    assert capfd.readouterr().err == ""


# logit_cases


def test_logit_cases_cover_shapes_and_dtypes():
    cases = logit_cases(seed=0)
    assert [tuple(x.shape) for x, _, _, _ in cases][0] == (1, 1)
    assert {x.shape[1] for x, _, _, _ in cases} == {1, 2, 3, 4}
    assert {x.dtype for x, _, _, _ in cases} == {torch.float32, torch.float64}
    for x, y, beta, alpha in cases:
        assert y.shape == (x.shape[0],) and beta.shape == (x.shape[1],) and alpha.shape == ()
        assert x.dtype == y.dtype == beta.dtype == alpha.dtype
        assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_logit_cases_repeat_per_seed_and_ignore_global_state():
    a = logit_cases(seed=3)
    torch.rand(10)
    b = logit_cases(seed=3)
    c = logit_cases(seed=4)
    for case_a, case_b in zip(a, b, strict=True):
        assert all(torch.equal(s, t) for s, t in zip(case_a, case_b, strict=True))
    assert not torch.equal(a[1][0], c[1][0])


def test_logit_cases_extreme_have_large_utilities_of_both_signs():
    for x, y, beta, alpha in logit_cases(seed=0, extreme=True):
        eta = (alpha + x @ beta).double()
        assert ((eta.abs() > 74) & (eta.abs() < 86)).all()
        assert eta[0] > 0
        if x.shape[0] > 1:
            assert (eta < 0).any()


# Flow checks: check_invertible, check_log_det and their case generators.


def test_reference_planar_passes_the_flow_checks_on_every_case():
    from course_lib.flows import planar_forward, planar_inverse
    from course_lib.grading import check_invertible, check_log_det, planar_cases

    for z, w, u, b in planar_cases(seed=3):
        tolerance = 1e-3 if z.dtype == torch.float32 else 1e-7
        check_invertible(
            "planar", lambda v: planar_forward(v, w, u, b), lambda v: planar_inverse(v, w, u, b),
            z, rtol=tolerance, atol=tolerance,
        )
        if z.dtype == torch.float64:
            check_log_det("planar", lambda v: planar_forward(v, w, u, b), z)


def test_check_invertible_reports_a_wrong_inverse():
    from course_lib.grading import check_invertible

    def forward(z):
        return z + 1.0, z.new_zeros(len(z))

    def inverse(x):  # forgets to undo the shift
        return x, x.new_zeros(len(x))

    with pytest.raises(AssertionError, match=r"inverse\(forward\(z\)\) differs"):
        check_invertible("shift", forward, inverse, torch.zeros(3, 2))


def test_check_log_det_reports_a_wrong_sign():
    from course_lib.grading import check_log_det

    def forward(z):  # doubles z but reports the inverse's log-det
        return 2 * z, torch.full((len(z),), -2 * math.log(2.0), dtype=z.dtype)

    with pytest.raises(AssertionError, match="log_det differs"):
        check_log_det("doubling", forward, torch.ones(2, 2, dtype=torch.float64))


def test_coupling_cases_agree_with_the_reference_layer_properties():
    from course_lib.flows import AffineCoupling
    from course_lib.grading import check_invertible, check_log_det, coupling_cases

    for z, mask, conditioner in coupling_cases(seed=4):
        layer = AffineCoupling(z.shape[1], mask, conditioner=lambda i, o, c=conditioner: c)
        layer = layer.double()
        check_invertible("AffineCoupling", layer, layer.inverse, z, rtol=1e-9, atol=1e-9)
        check_log_det("AffineCoupling", layer, z)


# Sinkhorn checks: the case generator and geomloss as the reference.


def test_sinkhorn_cases_repeat_with_their_seed_and_cover_dims_and_dtypes():
    from course_lib.grading import sinkhorn_cases

    a, b, c = sinkhorn_cases(seed=5), sinkhorn_cases(seed=5), sinkhorn_cases(seed=6)
    for (x, y, blur), (u, v, other_blur) in zip(a, b, strict=True):
        assert torch.equal(x, u) and torch.equal(y, v) and blur == other_blur
        assert x.dtype == y.dtype and x.shape[1] == y.shape[1]
    assert not torch.equal(a[0][0], c[0][0])
    assert {x.shape[1] for x, _, _ in a} == {1, 2, 3}
    assert {x.dtype for x, _, _ in a} == {torch.float32, torch.float64}
    # The far-apart case: for some points exp(-C / eps) underflows to 0 for every partner, so
    # only log-domain updates stay finite.
    x, y, blur = a[-1]
    cost = ((x[:, None] - y[None]) ** 2).sum(-1) / 2
    assert (torch.exp(-cost / blur**2).sum(dim=1) == 0).any()


def test_geomloss_sinkhorn_meets_closed_forms():
    from course_lib.grading import geomloss_sinkhorn

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(30, 2, generator=generator, dtype=torch.float64)
    t = torch.tensor([0.5, -1.0], dtype=torch.float64)
    # One point each: the plan is fixed, OT = |x - y|^2 / 2 for any blur.
    single = geomloss_sinkhorn(x[:1], x[:1] + t, 0.3, debias=False)
    assert single.dtype == torch.float64 and single.shape == ()
    assert abs(single.item() - 0.625) < 1e-9
    # Translation: the potentials absorb the cross term, S(x, x + t) = |t|^2 / 2.
    assert abs(geomloss_sinkhorn(x, x + t, 0.5).item() - 0.625) < 1e-3
    assert abs(geomloss_sinkhorn(x, x, 0.5).item()) < 1e-9
    biased = geomloss_sinkhorn(x, x, 0.5, debias=False).item()
    assert biased > 0.01


# Spline checks: the case generator and the reference through given knots.


def test_spline_cases_repeat_with_their_seed_and_hold_knots_bounds_and_tails():
    from course_lib.grading import spline_cases

    a, b, c = spline_cases(seed=5), spline_cases(seed=5), spline_cases(seed=6)
    for first, second in zip(a, b, strict=True):
        assert all(torch.equal(u, v) for u, v in zip(first, second, strict=True))
    assert not torch.equal(a[0][1], c[0][1])
    assert {x.dtype for x, *_ in a} == {torch.float32, torch.float64}
    assert {x.ndim for x, *_ in a} == {1, 2}
    for x, knot_x, knot_y, knot_d in a:
        bound = knot_x[-1]
        assert knot_x[0] == -bound and knot_y[0] == -bound and knot_y[-1] == bound
        assert (torch.diff(knot_x) > 0).all() and (torch.diff(knot_y) > 0).all()
        assert (knot_d > 0).all() and knot_d[0] == 1 and knot_d[-1] == 1
        assert set(knot_x.tolist()) <= set(x.flatten().tolist())
        assert (x < -bound).any() and (x > bound).any() and (x.abs() >= 100 * bound).any()


def test_rq_spline_from_knots_interpolates_the_knots_with_their_derivatives():
    from course_lib.grading import rq_spline_from_knots, spline_cases

    for _, knot_x, knot_y, knot_d in spline_cases(seed=1):
        y, log_derivative = rq_spline_from_knots(knot_x, knot_x, knot_y, knot_d)
        rtol = 1e-5 if knot_x.dtype == torch.float32 else 1e-10
        torch.testing.assert_close(y, knot_y, rtol=rtol, atol=rtol)
        torch.testing.assert_close(log_derivative, knot_d.log(), rtol=rtol, atol=rtol)


def test_rq_spline_from_knots_derivative_matches_autograd_and_tails_are_the_identity():
    from course_lib.grading import rq_spline_from_knots, spline_cases

    x, knot_x, knot_y, knot_d = spline_cases(seed=2)[3]
    assert x.dtype == torch.float64
    x = x.clone().requires_grad_()
    y, log_derivative = rq_spline_from_knots(x, knot_x, knot_y, knot_d)
    (slope,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(log_derivative, slope.log(), rtol=1e-9, atol=1e-9)
    tails = x.abs() > knot_x[-1]
    assert torch.equal(y[tails], x[tails]) and (log_derivative[tails] == 0).all()
    order = x.detach().argsort()
    assert (torch.diff(y.detach()[order]) > 0).all()


def test_rq_spline_from_knots_rejects_knots_off_the_box():
    from course_lib.grading import rq_spline_from_knots

    knots = torch.tensor([-1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=r"\[-B, B\]"):
        rq_spline_from_knots(torch.zeros(3), knots, knots, torch.ones(3))
