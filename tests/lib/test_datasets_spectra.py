"""Tests for course_lib.datasets.spectra: synthetic stellar labels and spectra."""

import math

import pytest
import torch

from course_lib.datasets import (
    LABEL_NAMES,
    WAVELENGTH_RANGE,
    StellarSpectra,
    log_flux,
    stellar_labels,
    stellar_spectra,
    synthetic_spectrum,
)


def _star(teff, logg, feh):
    return torch.tensor([[teff, logg, feh]], dtype=torch.float64)


def test_shapes_dtypes_and_wavelengths():
    data = stellar_spectra(40, pixels=128, seed=0, dtype=torch.float64)
    assert isinstance(data, StellarSpectra) and len(data) == 40
    assert data.flux.shape == data.noiseless.shape == (40, 128)
    assert data.labels.shape == (40, 3) and data.snr.shape == data.extinction.shape == (40,)
    assert data.giant.dtype == torch.bool and data.flux.dtype == torch.float64
    step = (WAVELENGTH_RANGE[1] - WAVELENGTH_RANGE[0]) / 128
    assert torch.allclose(data.wavelength[0], torch.tensor(WAVELENGTH_RANGE[0] + step / 2).double())
    assert torch.allclose(data.wavelength.diff(), torch.full((127,), step).double())
    assert LABEL_NAMES == ("Teff", "logg", "[Fe/H]")
    assert stellar_spectra(3, pixels=64).flux.dtype == torch.float32


def test_same_seed_repeats_and_other_seeds_differ():
    a, b = stellar_spectra(30, pixels=64, seed=3), stellar_spectra(30, pixels=64, seed=3)
    assert torch.equal(a.flux, b.flux) and torch.equal(a.labels, b.labels)
    c = stellar_spectra(30, pixels=64, seed=4)
    assert not torch.equal(a.labels, c.labels)
    state = torch.random.get_rng_state()
    stellar_spectra(5, pixels=16, seed=1)
    assert torch.equal(state, torch.random.get_rng_state())


def test_labels_do_not_depend_on_pixels_or_snr():
    a = stellar_spectra(50, pixels=64, snr=10.0, seed=2)
    b = stellar_spectra(50, pixels=256, snr=(5.0, 100.0), seed=2)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.extinction, b.extinction)


def test_labels_lie_in_physical_ranges_with_two_populations():
    labels, giant = stellar_labels(20_000, seed=0)
    teff, logg, feh = labels.unbind(-1)
    assert 3900 <= teff.min() and teff.max() <= 7000
    assert 1.0 <= logg.min() and logg.max() <= 5.0
    assert -2.5 <= feh.min() and feh.max() <= 0.5
    assert logg[giant].max() < 3.7 < 3.9 <= logg[~giant].min()
    assert abs(giant.double().mean().item() - 0.4) < 4 * math.sqrt(0.24 / 20_000)
    # Giants: hotter at higher gravity and, at a given gravity, when metal-poor.
    g = giant
    design = torch.stack([torch.ones(int(g.sum())), logg[g], feh[g]], dim=-1)
    coefficients = torch.linalg.lstsq(design, teff[g].unsqueeze(-1)).solution.squeeze(-1)
    assert 250 < coefficients[1] < 350 and -260 < coefficients[2] < -180
    # Dwarfs: the main sequence, gravity falling as temperature rises.
    assert torch.corrcoef(torch.stack([teff[~g], logg[~g]]))[0, 1] < -0.5


def test_snr_sets_the_noise():
    for snr in (10.0, 100.0):
        data = stellar_spectra(200, pixels=256, snr=snr, seed=0, dtype=torch.float64)
        scale = data.noiseless.clamp(min=0.05).sqrt() / snr
        standardized = (data.flux - data.noiseless) / scale
        # A standard normal sample of 51,200 values: mean and std within 5 standard errors.
        assert abs(standardized.mean().item()) < 5 / math.sqrt(standardized.numel())
        assert abs(standardized.std().item() - 1) < 5 / math.sqrt(2 * standardized.numel())
        assert torch.all(data.snr == snr)
    spread = stellar_spectra(2000, pixels=16, snr=(5.0, 150.0), seed=0, dtype=torch.float64)
    assert 5.0 <= spread.snr.min() and spread.snr.max() <= 150.0
    # Log-uniform: the log is uniform between the log bounds (mean at the midpoint).
    midpoint = 0.5 * (math.log(5.0) + math.log(150.0))
    assert abs(spread.snr.log().mean().item() - midpoint) < 5 * 0.98 / math.sqrt(2000)


def test_spectrum_responds_to_each_label_as_documented():
    pixels = 512
    wavelength = stellar_spectra(1, pixels=pixels).wavelength.double()
    base = synthetic_spectrum(_star(5000, 4.5, 0.0), pixels=pixels)
    assert torch.allclose(base.mean(), torch.tensor(1.0).double(), atol=0.2)
    # More metals and a cooler star deepen the metal lines.
    poor = synthetic_spectrum(_star(5000, 4.5, -1.0), pixels=pixels)
    assert (poor >= base - 1e-12).all() and (poor - base).max() > 0.1
    # A hotter star is bluer.
    blue, red = wavelength < 5000, wavelength > 6000
    hot = synthetic_spectrum(_star(6000, 4.5, 0.0), pixels=pixels)
    assert hot[0, blue].mean() / hot[0, red].mean() > base[0, blue].mean() / base[0, red].mean()
    # Extinction reddens the continuum.
    reddened = synthetic_spectrum(_star(5000, 4.5, 0.0), pixels=pixels, extinction=1.0)
    ratio = lambda f: f[0, blue].mean() / f[0, red].mean()  # noqa: E731
    assert ratio(reddened) < ratio(base)
    # Gravity: dwarfs have broader wings on Na D, giants stronger ionized lines.
    giant = synthetic_spectrum(_star(5000, 2.5, 0.0), pixels=pixels)
    near_na = (wavelength > 5870) & (wavelength < 5885)
    assert giant[0, near_na].mean() > base[0, near_na].mean()
    assert not torch.allclose(giant, base)
    # Balmer lines grow with temperature.
    h_alpha = (wavelength - 6562.8).abs().argmin()
    cool = synthetic_spectrum(_star(4500, 4.5, -2.0), pixels=pixels)
    warm = synthetic_spectrum(_star(6500, 4.5, -2.0), pixels=pixels)
    assert warm[0, h_alpha] < cool[0, h_alpha]


def test_coarse_pixels_average_the_fine_spectrum():
    # Optical depths are pixel means, so log-flux = log-continuum - depth averages exactly
    # over blocks of fine pixels, up to the continuum's curvature within a block.
    labels = torch.tensor([[6500.0, 4.3, -0.5], [4500.0, 2.5, 0.3]], dtype=torch.float64)
    fine = synthetic_spectrum(labels, pixels=16384).log()
    coarse = synthetic_spectrum(labels, pixels=512).log()
    averaged = fine.reshape(2, 512, 32).mean(-1)
    assert (averaged - coarse).abs().max() < 1e-3
    assert (fine - fine.mean()).abs().max() > 1.0  # the lines are there


def test_log_flux_floors_the_flux():
    flux = torch.tensor([[-0.5, 0.0, 0.1, 0.2, 1.0, 2.0]], dtype=torch.float64)
    expected = torch.tensor([[0.2, 0.2, 0.2, 0.2, 1.0, 2.0]], dtype=torch.float64).log()
    assert torch.allclose(log_flux(flux), expected)
    assert torch.allclose(log_flux(flux, floor=0.05)[0, 2], torch.tensor(0.1).double().log())


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: stellar_spectra(0), ValueError, "n must be a positive integer"),
        (lambda: stellar_spectra(5, pixels=2.5), TypeError, "pixels must be a positive"),
        (lambda: stellar_spectra(5, snr=-1.0), ValueError, "snr must be a finite positive"),
        (lambda: stellar_spectra(5, snr=(50.0, 5.0)), ValueError, "low <= high"),
        (lambda: stellar_spectra(5, snr="high"), TypeError, "snr must be a positive number"),
        (lambda: stellar_spectra(5, max_extinction=-1), ValueError, "max_extinction"),
        (lambda: stellar_spectra(5, dtype=torch.int32), TypeError, "dtype must be a floating"),
        (lambda: stellar_labels(5, giant_fraction=1.5), ValueError, "giant_fraction"),
        (lambda: synthetic_spectrum(torch.zeros(3)), ValueError, "labels must be 2-D"),
        (lambda: synthetic_spectrum(torch.ones(2, 2)), ValueError, "labels must have shape"),
        (lambda: synthetic_spectrum(-torch.ones(2, 3)), ValueError, "Teff"),
        (
            lambda: synthetic_spectrum(_star(5000, 4, 0), extinction=torch.zeros(2).double()),
            ValueError,
            "extinction must have shape",
        ),
        (lambda: log_flux([1.0]), TypeError, "flux must be a torch.Tensor"),
        (lambda: log_flux(torch.ones(2), floor=0.0), ValueError, "floor must be"),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
