"""Tests for course_lib.logit: the loss, its information matrix and the two fitting routes."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from course_lib.datasets import binary_choice
from course_lib.logit import (
    LogitFit,
    LogitModel,
    fit_logit,
    logit_nll,
    newton_logit,
    observed_information,
    standard_errors,
)


@pytest.fixture(scope="module")
def default_data():
    return binary_choice()


@pytest.fixture(scope="module")
def default_fits(default_data):
    return fit_logit(default_data.x, default_data.y), newton_logit(default_data.x, default_data.y)


def small_problem(batch=20, features=3, *, dtype=torch.float64, device="cpu", seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, features, generator=generator, dtype=torch.float64)
    beta = torch.randn(features, generator=generator, dtype=torch.float64)
    alpha = torch.randn((), generator=generator, dtype=torch.float64)
    y = (torch.rand(batch, generator=generator, dtype=torch.float64) < 0.5).double()
    return tuple(t.to(device=device, dtype=dtype) for t in (x, y, beta, alpha))


def theta(fit: LogitFit) -> torch.Tensor:
    return torch.cat([torch.tensor([fit.alpha], dtype=torch.float64), fit.beta.double().cpu()])


# logit_nll


def test_logit_nll_matches_torch_binary_cross_entropy(device, dtype):
    x, y, beta, alpha = small_problem(dtype=dtype, device=device)
    expected = F.binary_cross_entropy_with_logits(alpha + x @ beta, y)
    result = logit_nll(x, y, beta, alpha)
    assert result.shape == () and result.dtype == dtype and result.device.type == device.type
    assert torch.allclose(result, expected, rtol=1e-6 if dtype == torch.float32 else 1e-12)


def test_logit_nll_reductions_agree(dtype):
    x, y, beta, alpha = small_problem(dtype=dtype)
    terms = logit_nll(x, y, beta, alpha, reduction="none")
    assert terms.shape == (20,)
    assert torch.allclose(logit_nll(x, y, beta, alpha, reduction="sum"), terms.sum())
    assert torch.allclose(logit_nll(x, y, beta, alpha), terms.mean())


def test_logit_nll_at_zero_utility_is_log_two():
    x, y = torch.zeros(4, 1), torch.tensor([0.0, 1.0, 1.0, 0.0])
    assert logit_nll(x, y, torch.ones(1), 0.0).item() == pytest.approx(math.log(2.0))


def test_logit_nll_accepts_integer_and_bool_labels():
    x, y, beta, alpha = small_problem()
    expected = logit_nll(x, y, beta, alpha)
    assert torch.equal(logit_nll(x, y.long(), beta, alpha), expected)
    assert torch.equal(logit_nll(x, y.bool(), beta, alpha), expected)


def test_logit_nll_accepts_a_float_alpha():
    x, y, beta, alpha = small_problem()
    assert torch.equal(logit_nll(x, y, beta, alpha.item()), logit_nll(x, y, beta, alpha))


def naive_nll(x, y, beta, alpha):
    """The literal formula, -[y log p + (1 - y) log(1 - p)], finite only for moderate eta."""
    p = torch.sigmoid(alpha + x @ beta)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p))


@pytest.mark.parametrize("eta", [-80.0, -30.0, -5.0, 0.0, 5.0, 30.0, 80.0, 500.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_logit_nll_is_finite_and_exact_for_large_utilities(eta, label, dtype):
    x = torch.tensor([[eta]], dtype=dtype, requires_grad=True)
    y = torch.tensor([label], dtype=dtype)
    beta = torch.ones(1, dtype=dtype, requires_grad=True)
    alpha = torch.zeros((), dtype=dtype, requires_grad=True)
    loss = logit_nll(x, y, beta, alpha)
    loss.backward()
    assert torch.isfinite(loss)
    for parameter in (x, beta, alpha):
        assert torch.isfinite(parameter.grad).all()
    # Exact values: -log sigma(s * eta) = log1p(exp(-s * eta)), computed in Python.
    s = 1.0 if label == 1.0 else -1.0
    exact = math.log1p(math.exp(-s * eta)) if s * eta > -700 else -s * eta
    assert loss.item() == pytest.approx(exact, rel=1e-6, abs=1e-30)
    # d loss / d eta = sigma(eta) - y.
    assert alpha.grad.item() == pytest.approx(1 / (1 + math.exp(-eta)) - label, abs=1e-6)
    with torch.no_grad():
        naive = naive_nll(x, y, beta, alpha)
    if torch.isfinite(naive).all():
        assert loss.item() == pytest.approx(naive.item(), rel=1e-4, abs=1e-6)


def test_naive_formula_fails_where_logit_nll_does_not():
    x = torch.tensor([[80.0]])
    y = torch.tensor([0.0])
    assert not torch.isfinite(naive_nll(x, y, torch.ones(1), 0.0)).all()
    assert logit_nll(x, y, torch.ones(1), 0.0).item() == pytest.approx(80.0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((torch.zeros(5), torch.zeros(5), torch.zeros(1), 0.0), "x must be 2-D"),
        ((torch.zeros(5, 1), torch.zeros(4), torch.zeros(1), 0.0), r"y must have shape \(5,\)"),
        ((torch.zeros(5, 1), torch.zeros(5, 1), torch.zeros(1), 0.0), "y must be 1-D"),
        ((torch.zeros(5, 2), torch.zeros(5), torch.zeros(3), 0.0), r"beta must have shape \(2,\)"),
        ((torch.zeros(5, 1), torch.zeros(5), torch.zeros(1), torch.zeros(1)), "alpha"),
        ((torch.full((5, 1), math.nan), torch.zeros(5), torch.zeros(1), 0.0), "x must contain"),
        ((torch.zeros(5, 1), torch.tensor([0.0, 1, 2, 1, 0]), torch.zeros(1), 0.0), "y .*got 2"),
        ((torch.zeros(5, 1), torch.zeros(5), torch.zeros(1), math.inf), "alpha must be finite"),
    ],
)
def test_logit_nll_rejects_bad_input_naming_the_argument(args, match):
    with pytest.raises(ValueError, match=match):
        logit_nll(*args)


def test_logit_nll_rejects_mismatched_dtypes_and_bad_reduction():
    with pytest.raises(TypeError, match=r"beta must have the dtype of x"):
        logit_nll(torch.zeros(3, 1), torch.zeros(3), torch.zeros(1, dtype=torch.float64), 0.0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        logit_nll([[0.0]], torch.zeros(1), torch.zeros(1), 0.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        logit_nll(torch.zeros(3, 1), torch.zeros(3), torch.zeros(1), 0.0, reduction="avg")


# LogitModel


def test_logit_model_shapes_and_seeded_start():
    model = LogitModel(features=3, seed=0)
    assert model.beta.shape == (3,) and model.alpha.shape == ()
    assert model(torch.zeros(7, 3)).shape == (7,)
    again = LogitModel(features=3, seed=0)
    assert torch.equal(model.beta, again.beta) and torch.equal(model.alpha, again.alpha)
    assert not torch.equal(model.beta, LogitModel(features=3, seed=1).beta)
    assert "features=3" in repr(model)


def test_logit_model_gradients_reach_every_parameter():
    x, y, _, _ = small_problem(features=2, dtype=torch.float32)
    model = LogitModel(features=2, seed=0)
    model.nll(x, y).backward()
    for parameter in model.parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0)


def test_logit_model_nll_is_logit_nll_of_its_parameters():
    x, y, _, _ = small_problem(features=2, dtype=torch.float32)
    model = LogitModel(features=2, seed=0)
    assert torch.equal(model.nll(x, y), logit_nll(x, y, model.beta, model.alpha))
    assert torch.equal(model(x), model.alpha + x @ model.beta)


def test_logit_model_rejects_inputs_of_another_width_or_dtype():
    model = LogitModel(features=2, seed=0)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\)"):
        model(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="model's parameters are torch.float32"):
        model(torch.zeros(4, 2, dtype=torch.float64))


# Observed information and standard errors


def summed_nll_hessian(x, y, beta, alpha):
    """Independent source: autograd's Hessian of the summed loss in (alpha, beta) order."""
    x, y = x.double(), y.double()

    def summed(parameters):
        return logit_nll(x, y, parameters[1:], parameters[0], reduction="sum")

    point = torch.cat([alpha.double().reshape(1), beta.double()])
    return torch.autograd.functional.hessian(summed, point)


def test_observed_information_matches_the_autograd_hessian():
    x, y, beta, alpha = small_problem(batch=50, features=3)
    information = observed_information(x, y, beta, alpha)
    assert information.shape == (4, 4) and information.dtype == torch.float64
    assert torch.allclose(information, summed_nll_hessian(x, y, beta, alpha), rtol=1e-10)
    assert torch.allclose(information, information.T)


def test_standard_errors_match_the_inverse_autograd_hessian(default_data, default_fits):
    _, exact = default_fits
    alpha = torch.tensor(exact.alpha, dtype=torch.float64)
    hessian = summed_nll_hessian(default_data.x, default_data.y, exact.beta, alpha)
    expected = torch.linalg.inv(hessian).diagonal().sqrt()
    result = standard_errors(default_data.x, default_data.y, exact.beta, alpha)
    assert result.shape == (2,) and result.dtype == torch.float64
    assert torch.allclose(result, expected, rtol=1e-8)
    assert torch.allclose(exact.standard_errors, expected, rtol=1e-6)
    assert torch.allclose(exact.covariance, torch.linalg.inv(hessian), rtol=1e-6)


def test_standard_errors_accept_mixed_dtypes():
    x, y, beta, alpha = small_problem(batch=50, features=2)
    reference = standard_errors(x, y, beta, alpha)
    mixed = standard_errors(x.float(), y.float(), beta, alpha.float())
    assert torch.allclose(mixed, reference, rtol=1e-5)


def test_standard_errors_reject_a_singular_information():
    x, y, beta, alpha = small_problem(batch=50, features=1)
    duplicated = torch.cat([x, x], dim=1)
    with pytest.raises(ValueError, match="singular.*separation"):
        standard_errors(duplicated, y, torch.zeros(2, dtype=torch.float64), alpha)


# Fitting


def test_fit_logit_reaches_newtons_estimate(default_fits):
    gd, exact = default_fits
    assert abs(gd.alpha - exact.alpha) < 1e-4
    assert (gd.beta.double() - exact.beta.double()).abs().max().item() < 1e-4
    assert gd.nll == pytest.approx(exact.nll, abs=1e-8)


@pytest.mark.parametrize("seed", [1, 2])
def test_fit_logit_reaches_newtons_estimate_from_other_starts(default_data, seed):
    gd = fit_logit(default_data.x, default_data.y, seed=seed)
    exact = newton_logit(default_data.x, default_data.y)
    assert (theta(gd) - theta(exact)).abs().max().item() < 1e-4


def sklearn_estimate(x, y):
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000)
    model.fit(x.double().numpy(), y.numpy())
    return torch.tensor([model.intercept_[0], *model.coef_[0]], dtype=torch.float64)


def test_fits_agree_with_scikit_learn(default_data, default_fits):
    gd, exact = default_fits
    reference = sklearn_estimate(default_data.x, default_data.y)
    assert (theta(exact) - reference).abs().max().item() < 1e-4
    assert (theta(gd) - reference).abs().max().item() < 1e-4


def test_newton_agrees_with_scikit_learn_on_several_regressors():
    data = binary_choice(n=800, beta=[1.0, -0.5, 0.25], alpha=-0.5, seed=4, dtype=torch.float64)
    exact = newton_logit(data.x, data.y)
    assert (theta(exact) - sklearn_estimate(data.x, data.y)).abs().max().item() < 1e-4
    assert exact.beta.dtype == torch.float64 and exact.standard_errors.shape == (4,)


def test_newton_solves_the_score_equations():
    """First-order condition of the MLE: X~^T (y - sigma(eta)) = 0."""
    data = binary_choice(n=500, beta=[0.5, 1.0], alpha=0.2, seed=1, dtype=torch.float64)
    exact = newton_logit(data.x, data.y)
    design = torch.cat([torch.ones(500, 1, dtype=torch.float64), data.x], dim=1)
    score = design.T @ (data.y - torch.sigmoid(design @ theta(exact)))
    assert score.abs().max().item() < 1e-8


def test_true_parameters_lie_within_three_standard_errors(default_data, default_fits):
    for fit in default_fits:
        truth = torch.tensor([default_data.alpha, *default_data.beta.tolist()]).double()
        assert ((theta(fit) - truth).abs() < 3 * fit.standard_errors).all()


def test_fit_logit_keeps_its_history(default_fits):
    gd, exact = default_fits
    assert gd.history is not None and gd.history.steps == 500 == gd.iterations
    assert gd.history.train_loss[-1] == pytest.approx(gd.nll, abs=1e-5)
    assert exact.history is None and 0 < exact.iterations < 20
    assert "history" not in repr(gd)


def test_fit_logit_repeats_with_the_same_seed(default_data):
    a = fit_logit(default_data.x, default_data.y, steps=20)
    b = fit_logit(default_data.x, default_data.y, steps=20)
    assert a.alpha == b.alpha and torch.equal(a.beta, b.beta)
    assert a.history.train_loss == b.history.train_loss


def test_fit_logit_follows_the_data_dtype_and_device(device, dtype):
    data = binary_choice(n=300, seed=0, dtype=dtype)
    result = fit_logit(data.x.to(device), data.y.to(device), steps=50)
    assert result.beta.dtype == dtype and result.beta.device.type == device.type
    assert result.standard_errors.dtype == torch.float64


def separated_data():
    x = torch.linspace(-2, 2, 40, dtype=torch.float64).unsqueeze(-1)
    return x, (x[:, 0] > 0).double()


def test_newton_reports_separation():
    with pytest.raises(RuntimeError, match="did not converge.*separated"):
        newton_logit(*separated_data())


def test_fit_logit_reports_separation():
    with pytest.raises(ValueError, match="perfectly separated"):
        fit_logit(*separated_data())


def test_fits_reject_a_single_outcome():
    x = torch.randn(10, 1)
    with pytest.raises(ValueError, match="y contains only 1s"):
        newton_logit(x, torch.ones(10))
    with pytest.raises(ValueError, match="y contains only 0s"):
        fit_logit(x, torch.zeros(10))


@pytest.mark.parametrize("fitter", [fit_logit, newton_logit])
def test_fits_reject_bad_input_naming_the_argument(fitter):
    with pytest.raises(ValueError, match="x must be 2-D"):
        fitter(torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match=r"y must have shape \(5,\)"):
        fitter(torch.zeros(5, 1), torch.zeros(6))
