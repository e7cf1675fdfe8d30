"""The references and cases of the conditional-heads assignment against independent sources."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from course_lib.conditional_cases import (
    coverage_cases,
    full_gaussian_cases,
    gaussian_pit_reference,
    pit_cases,
    reference_coverage,
    reference_full_gaussian_log_prob,
    reference_full_gaussian_params,
    reference_pulls,
    torch_full_gaussian_log_prob,
)


@pytest.mark.parametrize("seed", [0, 1])
def test_log_prob_matches_scipy_and_the_independent_factor(seed):
    for raw, y in full_gaussian_cases(seed):
        mean, tril = reference_full_gaussian_params(raw)
        assert torch.equal(tril, tril.tril()) and (tril.diagonal(dim1=-2, dim2=-1) > 1e-3).all()
        got = reference_full_gaussian_log_prob(raw, y).double().numpy()
        factor = tril.double()
        covariance = (factor @ factor.mT).numpy()
        want = [
            multivariate_normal(m, c).logpdf(v)
            for m, c, v in zip(mean.double().numpy(), covariance, y.double().numpy(), strict=True)
        ]
        rtol = 1e-4 if raw.dtype == torch.float32 else 1e-9
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(got, torch_full_gaussian_log_prob(raw, y).numpy(), rtol=rtol)


def test_params_read_the_mean_then_the_rows_of_the_triangle():
    raw = torch.tensor([[1.0, 2.0, 0.0, 5.0, 0.0]], dtype=torch.float64)
    mean, tril = reference_full_gaussian_params(raw)
    diagonal = np.log(2) + 1e-3
    assert mean.tolist() == [[1.0, 2.0]]
    np.testing.assert_allclose(tril[0].numpy(), [[diagonal, 0.0], [5.0, diagonal]])
    with pytest.raises(ValueError, match="d \\+ d\\(d\\+1\\)/2"):
        reference_full_gaussian_params(torch.zeros(1, 4))


def test_pulls_pit_and_coverage_match_scipy_and_counting():
    for true, mean, std in pit_cases(0):
        z = ((true - mean) / std).double().numpy()
        np.testing.assert_allclose(reference_pulls(true, mean, std).double().numpy(), z, 1e-6)
        np.testing.assert_allclose(
            gaussian_pit_reference(true, mean, std).double().numpy(), norm.cdf(z), atol=1e-6
        )
    for pit, levels in coverage_cases(0):
        got = reference_coverage(pit, levels).numpy()
        u = pit.numpy()
        want = [(np.abs(u - 0.5) <= level / 2).mean(0) for level in levels]
        np.testing.assert_allclose(got, want)
        assert got.shape == (len(levels), pit.shape[1])
