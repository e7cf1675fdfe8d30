"""Tests for course_lib.drift_cases: the references of the DRIFT-LS assignment."""

import math

import pytest
import torch
from torch.distributions import Normal

from course_lib.drift import LocationScaleDrift
from course_lib.drift_cases import (
    heteroscedastic,
    heteroscedastic_log_prob,
    ls_cases,
    ls_model,
    ls_nll_reference,
    ls_pieces,
    ls_transform_reference,
)


def _formula(g, dg, w, mu, log_sigma):
    """The LS transformation and the normal NLL written out, in float64."""
    g, dg, w, mu, log_sigma = (t.double() for t in (g, dg, w, mu, log_sigma))
    sigma = log_sigma.exp()
    h = (g @ w - mu) / sigma
    log_dh = torch.log(dg @ w / sigma)
    return h, log_dh, -(Normal(0.0, 1.0).log_prob(h) + log_dh).mean()


@pytest.mark.parametrize("seed", [0, 5])
def test_references_agree_with_the_formula_on_every_case(seed):
    cases = ls_cases(seed)
    assert {case[0].dtype for case in cases} == {torch.float32, torch.float64}
    for case in cases:
        h, log_dh = ls_transform_reference(*case)
        nll = ls_nll_reference(*case)
        assert h.dtype == log_dh.dtype == nll.dtype == case[0].dtype
        assert h.shape == log_dh.shape == case[3].shape and nll.shape == ()
        want_h, want_log_dh, want_nll = _formula(*case)
        tol = 1e-5 if case[0].dtype == torch.float32 else 1e-10
        torch.testing.assert_close(h.double(), want_h, rtol=tol, atol=tol)
        torch.testing.assert_close(log_dh.double(), want_log_dh, rtol=tol, atol=tol)
        torch.testing.assert_close(nll.double(), want_nll, rtol=tol, atol=tol)


def test_pieces_give_the_model_transform_log_prob_and_autograd_derivative():
    model = ls_model(2, monotone_hidden=(5, 4), seed=3)
    generator = torch.Generator().manual_seed(1)
    y = torch.randn(9, generator=generator, dtype=torch.float64).requires_grad_()
    x = torch.randn(9, 2, generator=generator, dtype=torch.float64)
    h, log_dh = ls_transform_reference(*ls_pieces(model, y.detach(), x))
    model_h = model.transform(y, x)
    (slope,) = torch.autograd.grad(model_h.sum(), y)
    torch.testing.assert_close(h, model_h.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_dh, slope.log(), rtol=1e-10, atol=1e-12)
    nll = ls_nll_reference(*ls_pieces(model, y.detach(), x))
    torch.testing.assert_close(nll, model.nll(y.detach(), x).detach(), rtol=1e-12, atol=1e-12)


def test_model_heads_vary_and_seeds_repeat():
    x = torch.randn(6, 1, dtype=torch.float64)
    y = torch.zeros(6, dtype=torch.float64)
    first = ls_pieces(ls_model(seed=4), y, x)
    again = ls_pieces(ls_model(seed=4), y, x)
    other = ls_pieces(ls_model(seed=5), y, x)
    for a, b in zip(first, again, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert first[3].std() > 0 and first[4].std() > 0
    assert not torch.equal(first[3], other[3])


def test_the_data_density_is_the_normal_one_and_integrates_to_one():
    y, x = heteroscedastic(5000, seed=0, dtype=torch.float64)
    assert y.shape == (5000,) and x.shape == (5000, 1) and x.abs().max() <= 3
    scale = 0.2 + 0.3 * x[:, 0].abs()
    want = Normal(torch.sin(x[:, 0]), scale).log_prob(y)
    torch.testing.assert_close(heteroscedastic_log_prob(y, x), want, rtol=1e-12, atol=1e-12)
    grid = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    x_one = torch.full((4001, 1), 2.5, dtype=torch.float64)
    mass = torch.trapezoid(heteroscedastic_log_prob(grid, x_one).exp(), grid)
    assert math.isclose(float(mass), 1.0, abs_tol=1e-8)
    # The residuals standardized by the true scale are standard normal.
    z = (y - torch.sin(x[:, 0])) / scale
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="model must be a LocationScaleDrift"):
        ls_pieces(torch.nn.Linear(1, 1), torch.zeros(2), torch.zeros(2, 1))
    scaled = LocationScaleDrift(1).double()
    scaled.fit_scaling(
        torch.randn(10, dtype=torch.float64), torch.randn(10, 1, dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="identity standardization"):
        ls_pieces(
            scaled, torch.zeros(2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)
        )
    case = ls_cases(0)[0]
    with pytest.raises(ValueError, match="g"):
        ls_transform_reference(case[0][0], *case[1:])
    with pytest.raises(ValueError, match="n"):
        heteroscedastic(0)
    with pytest.raises(ValueError, match="x"):
        heteroscedastic_log_prob(torch.zeros(3), torch.zeros(3, 2))
