r"""Synthetic stellar spectra: labels (Teff, logg, [Fe/H]) of dwarfs and giants, and noisy
optical spectra whose continuum and absorption lines depend on them.

A stand-in for survey spectra, built so that inferring the labels is a conditional density
problem with real degeneracies:

* **Teff vs [Fe/H].** Neutral metal lines grow both with metallicity and as the star cools,
  :math:`\tau \propto 10^{[\mathrm{Fe/H}]} e^{-(T_\mathrm{eff} - 5500)/900}`, and interstellar
  reddening tilts the continuum as a cooler star would, so a weak-lined spectrum is
  either hot or metal-poor.
* **Dwarf or giant.** Gravity shows only in the damping wings of a few strong lines and in
  weak ionized lines; at low signal-to-noise a cool star's logg posterior has two modes,
  one per population.

The model (all in float64 on a CPU generator, then cast):

.. math::
    F(\lambda) = C(\lambda)\, e^{-\tau(\lambda)} + \sigma(\lambda)\,\varepsilon, \qquad
    C(\lambda) \propto B_\lambda(T_\mathrm{eff})\, 10^{-0.4 A_V\, 5500/\lambda}, \qquad
    \sigma(\lambda) = \sqrt{\max(F_0(\lambda), 0.05)} / \mathrm{SNR},

with :math:`B_\lambda` Planck's law, :math:`A_V` a random extinction, the continuum scaled to
mean 1, and :math:`\tau` a sum of line profiles (Gaussian cores and Lorentzian wings) each
averaged over its pixel, so any number of pixels gives the same spectrum at another
resolution. The line list is fixed (the same for every seed).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib._validation import (
    check_float_dtype,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
)

__all__ = [
    "LABEL_NAMES",
    "LABEL_UNITS",
    "WAVELENGTH_RANGE",
    "StellarSpectra",
    "log_flux",
    "stellar_labels",
    "stellar_spectra",
    "synthetic_spectrum",
]

LABEL_NAMES = ("Teff", "logg", "[Fe/H]")
LABEL_UNITS = ("K", "dex", "dex")
WAVELENGTH_RANGE = (4500.0, 6800.0)  # Angstrom: H-beta, Mg b, Na D and H-alpha

_CORE_WIDTH = 1.5  # Angstrom, Gaussian sigma of every line core (thermal and instrumental)
_WING_WIDTH = 3.0  # Angstrom, Lorentzian half-width of damping wings
_BALMER_WING_WIDTH = 12.0
_LINE_SEED = 20_240_507  # the line list is fixed: every seed shares it
_HC_OVER_K = 1.438777e8  # h c / k in Angstrom kelvin


@dataclass(frozen=True, eq=False)
class StellarSpectra:
    """Stars, their labels and their spectra.

    Attributes:
        flux: Observed flux, continuum scaled to mean 1, shape ``(n, pixels)``.
        labels: ``(Teff [K], logg [dex], [Fe/H] [dex])``, shape ``(n, 3)``.
        snr: Signal-to-noise ratio per pixel at the continuum, shape ``(n,)``.
        extinction: :math:`A_V` in magnitudes, shape ``(n,)``.
        giant: Whether each star is a giant (else a dwarf), bool, shape ``(n,)``.
        wavelength: Pixel centres in Angstrom, shape ``(pixels,)``.
        noiseless: Flux without noise, shape ``(n, pixels)``.
    """

    flux: Tensor
    labels: Tensor
    snr: Tensor
    extinction: Tensor
    giant: Tensor
    wavelength: Tensor
    noiseless: Tensor

    def __len__(self) -> int:
        return self.flux.shape[0]


def _truncated_normal(
    n: int, mean: float, std: float, low: float, high: float, generator: torch.Generator
) -> Tensor:
    """Normal draws redrawn until inside ``[low, high]`` (by the inverse CDF, exactly)."""
    a = 0.5 * (1 + math.erf((low - mean) / (std * math.sqrt(2))))
    b = 0.5 * (1 + math.erf((high - mean) / (std * math.sqrt(2))))
    u = a + (b - a) * torch.rand(n, generator=generator, dtype=torch.float64)
    u = u.clamp(1e-12, 1 - 1e-12)
    return mean + std * math.sqrt(2) * torch.erfinv(2 * u - 1)


def stellar_labels(
    n: int, *, giant_fraction: float = 0.4, seed: int | torch.Generator | None = 0
) -> tuple[Tensor, Tensor]:
    r"""Draws labels from a joint distribution of dwarfs and giants (float64).

    * Metallicity: a thin disc, :math:`\mathcal{N}(-0.1, 0.25^2)`, and for 15% of the
      stars a metal-poor halo, :math:`\mathcal{N}(-1.3, 0.4^2)`, kept in ``[-2.5, 0.5]``.
    * Dwarfs: :math:`T_\mathrm{eff}` in 4000-7000 K (a Beta(2, 2) shape); the main sequence
      :math:`\log g = 4.65 - 0.45 (T_\mathrm{eff} - 4000)/3000 + 0.1\,\varepsilon`, with
      metal-poor dwarfs a little hotter.
    * Giants: :math:`\log g` in 1.0-3.6 dex, with a red clump at 2.4; the red giant
      branch :math:`T_\mathrm{eff} = 4650 + 300 (\log g - 2.5) - 220\,[\mathrm{Fe/H}]
      + 80\,\varepsilon` K: metal-poor giants are hotter at a given gravity.

    Args:
        n: Number of stars.
        giant_fraction: Share of giants, in ``(0, 1)``.
        seed: Seed or CPU generator.

    Returns:
        ``(labels, giant)``: labels of shape ``(n, 3)`` in (K, dex, dex) and a bool
        tensor of shape ``(n,)``.

    Example:
        >>> labels, giant = stellar_labels(1000, seed=0)
        >>> tuple(labels.shape), bool((labels[giant, 1] < labels[~giant, 1].min()).all())
        ((1000, 3), True)
    """
    n = check_positive_int("n", n)
    giant_fraction = check_positive_float("giant_fraction", giant_fraction)
    if not giant_fraction < 1:
        raise ValueError(f"giant_fraction must be below 1; got {giant_fraction}.")
    generator = check_seed(seed)
    draw = lambda: torch.rand(n, generator=generator, dtype=torch.float64)  # noqa: E731
    normal = lambda: torch.randn(n, generator=generator, dtype=torch.float64)  # noqa: E731
    giant = draw() < giant_fraction
    halo = draw() < 0.15
    feh = torch.where(
        halo,
        _truncated_normal(n, -1.3, 0.4, -2.5, 0.5, generator),
        _truncated_normal(n, -0.1, 0.25, -2.5, 0.5, generator),
    )
    # Dwarfs.
    bell = (draw() + draw() + draw()) / 3  # a bell on [0, 1] close to Beta(2, 2)
    teff_dwarf = 4000 + 3000 * bell - 120 * feh.clamp(max=0)
    teff_dwarf = teff_dwarf.clamp(4000, 7000)
    logg_dwarf = 4.65 - 0.45 * (teff_dwarf - 4000) / 3000 + 0.1 * normal()
    logg_dwarf = logg_dwarf.clamp(3.9, 5.0)
    # Giants: a third in the red clump, the others along the branch.
    clump = draw() < 0.35
    logg_giant = torch.where(clump, 2.4 + 0.08 * normal(), 1.0 + 2.6 * draw())
    teff_giant = 4650 + 300 * (logg_giant - 2.5) - 220 * feh + 80 * normal()
    teff_giant = teff_giant.clamp(3900, 5600)
    labels = torch.stack(
        [
            torch.where(giant, teff_giant, teff_dwarf),
            torch.where(giant, logg_giant, logg_dwarf),
            feh,
        ],
        dim=-1,
    )
    return labels, giant


def _line_list() -> dict[str, Tensor]:
    """The fixed lines: wavelengths, strengths and kinds (float64)."""
    generator = torch.Generator().manual_seed(_LINE_SEED)
    low, high = WAVELENGTH_RANGE
    rand = lambda k: torch.rand(k, generator=generator, dtype=torch.float64)  # noqa: E731
    neutral = low + (high - low) * rand(70)
    neutral_strength = 10 ** (-1.3 + 1.6 * rand(70))
    ionized = low + (high - low) * rand(16)
    ionized_strength = 10 ** (-1.6 + 1.0 * rand(16))
    # Mg b, Fe 5270, Na D, Ca 6122 and 6162: strong lines with gravity-broadened wings.
    strong = torch.tensor([5167.3, 5172.7, 5183.6, 5269.5, 5890.0, 5895.9, 6122.2, 6162.2])
    strong_strength = torch.tensor([4.0, 6.0, 7.0, 3.0, 8.0, 6.0, 3.0, 4.0], dtype=torch.float64)
    balmer = torch.tensor([4861.3, 6562.8], dtype=torch.float64)
    balmer_strength = torch.tensor([2.0, 3.0], dtype=torch.float64)
    return {
        "neutral": neutral,
        "neutral_strength": neutral_strength,
        "ionized": ionized,
        "ionized_strength": ionized_strength,
        "strong": strong.double(),
        "strong_strength": strong_strength,
        "balmer": balmer,
        "balmer_strength": balmer_strength,
    }


def _pixel_edges(wavelength: Tensor) -> tuple[Tensor, Tensor]:
    """Lower and upper edges of the pixels around ascending centres."""
    mid = 0.5 * (wavelength[1:] + wavelength[:-1])
    if wavelength.shape[0] == 1:
        half = torch.ones_like(wavelength)
        return wavelength - half, wavelength + half
    first = wavelength[:1] - (mid[:1] - wavelength[:1])
    last = wavelength[-1:] + (wavelength[-1:] - mid[-1:])
    return torch.cat([first, mid]), torch.cat([mid, last])


def _gaussian_profiles(centres: Tensor, lower: Tensor, upper: Tensor, width: float) -> Tensor:
    """Pixel means of ``exp(-(l - c)^2 / (2 width^2))``, shape ``(lines, pixels)``."""
    scale = width * math.sqrt(2)
    a = (lower[None, :] - centres[:, None]) / scale
    b = (upper[None, :] - centres[:, None]) / scale
    integral = width * math.sqrt(math.pi / 2) * (torch.erf(b) - torch.erf(a))
    return integral / (upper - lower)[None, :]


def _lorentzian_profiles(centres: Tensor, lower: Tensor, upper: Tensor, width: float) -> Tensor:
    """Pixel means of ``width^2 / ((l - c)^2 + width^2)``, shape ``(lines, pixels)``."""
    a = (lower[None, :] - centres[:, None]) / width
    b = (upper[None, :] - centres[:, None]) / width
    return width * (torch.atan(b) - torch.atan(a)) / (upper - lower)[None, :]


def _check_labels(labels: object) -> Tensor:
    labels = check_tensor(
        "labels",
        labels,
        ndim=2,
        floating=True,
        hint="Pass one row (Teff, logg, [Fe/H]) per star, e.g. labels.reshape(-1, 3).",
    )
    if labels.shape[-1] != 3:
        raise ValueError(
            f"labels must have shape (n, 3), columns Teff [K], logg [dex], [Fe/H] [dex]; got "
            f"{tuple(labels.shape)}."
        )
    if not ((labels[:, 0] > 0).all()):
        raise ValueError("labels[:, 0] (Teff) must be positive kelvin, e.g. 5000.0.")
    return labels


def _wavelength(pixels: int) -> Tensor:
    low, high = WAVELENGTH_RANGE
    step = (high - low) / pixels
    return low + step * (torch.arange(pixels, dtype=torch.float64) + 0.5)


def synthetic_spectrum(
    labels: Tensor, *, pixels: int = 512, extinction: Tensor | float = 0.0
) -> Tensor:
    r"""The noiseless spectrum of each star, continuum scaled to mean 1 (float64).

    Line optical depths at the line centre (:math:`T = T_\mathrm{eff}`,
    :math:`Z = 10^{[\mathrm{Fe/H}]}`, :math:`g = \log g`, :math:`s` a fixed strength):

    ================  =====================================================  ============
    lines             centre optical depth                                   profile
    ================  =====================================================  ============
    70 neutral metal  :math:`s\,Z\,e^{-(T-5500)/900}`                          core
    16 ionized metal  :math:`s\,Z\,10^{-0.35 (g-4)}\,e^{-(T-6000)/2500}`       core
    8 strong          core as neutral; wings :math:`\times 0.04\,10^{0.5(g-4.4)}` core + wings
    H-beta, H-alpha   :math:`s\,e^{(T-6000)/800}`; wings :math:`\times 0.15`     core + wings
    ================  =====================================================  ============

    Args:
        labels: ``(Teff [K], logg [dex], [Fe/H] [dex])`` per star, shape ``(n, 3)``.
        pixels: Number of pixels across :data:`WAVELENGTH_RANGE`.
        extinction: :math:`A_V` in magnitudes, a number or shape ``(n,)``.

    Returns:
        Flux, shape ``(n, pixels)``, float64.

    Example:
        >>> labels = torch.tensor([[5000.0, 4.5, 0.0], [5000.0, 4.5, -1.0]], dtype=torch.float64)
        >>> flux = synthetic_spectrum(labels, pixels=256)
        >>> bool(flux[0].min() < flux[1].min())  # metal-rich: deeper lines
        True
    """
    labels = _check_labels(labels).double()
    pixels = check_positive_int("pixels", pixels)
    if isinstance(extinction, numbers.Real) and not isinstance(extinction, bool):
        extinction = torch.full((labels.shape[0],), float(extinction), dtype=torch.float64)
    extinction = check_tensor("extinction", extinction, shape=(labels.shape[0],), floating=True)
    extinction = extinction.double().to(labels.device)
    teff, logg, feh = labels.unbind(-1)
    wavelength = _wavelength(pixels).to(labels.device)
    lower, upper = _pixel_edges(wavelength)
    lines = {k: v.to(labels.device) for k, v in _line_list().items()}
    metals = 10**feh
    neutral_t = torch.exp(-(teff - 5500) / 900)
    # Strengths per star, then one matrix product per kind of profile.
    core_strength = torch.cat(
        [
            lines["neutral_strength"] * (metals * neutral_t)[:, None],
            lines["ionized_strength"]
            * (metals * 10 ** (-0.35 * (logg - 4)) * torch.exp(-(teff - 6000) / 2500))[:, None],
            lines["strong_strength"] * (metals * neutral_t)[:, None],
            lines["balmer_strength"] * torch.exp((teff - 6000) / 800)[:, None],
        ],
        dim=-1,
    )
    core_centres = torch.cat(
        [lines["neutral"], lines["ionized"], lines["strong"], lines["balmer"]]
    )
    tau = core_strength @ _gaussian_profiles(core_centres, lower, upper, _CORE_WIDTH)
    wing_strength = (
        0.04 * lines["strong_strength"] * (metals * neutral_t * 10 ** (0.5 * (logg - 4.4)))[:, None]
    )
    tau = tau + wing_strength @ _lorentzian_profiles(lines["strong"], lower, upper, _WING_WIDTH)
    balmer_wings = 0.15 * lines["balmer_strength"] * torch.exp((teff - 6000) / 800)[:, None]
    tau = tau + balmer_wings @ _lorentzian_profiles(
        lines["balmer"], lower, upper, _BALMER_WING_WIDTH
    )
    x = _HC_OVER_K / (wavelength[None, :] * teff[:, None])
    planck = (wavelength[None, :] / 5500.0) ** -5 / torch.expm1(x)
    reddening = 10 ** (-0.4 * extinction[:, None] * 5500.0 / wavelength[None, :])
    continuum = planck * reddening
    continuum = continuum / continuum.mean(-1, keepdim=True)
    return continuum * torch.exp(-tau)


def _snr_range(snr: object) -> tuple[float, float]:
    if isinstance(snr, numbers.Real) and not isinstance(snr, bool):
        value = check_positive_float("snr", snr)
        return value, value
    if isinstance(snr, Sequence) and not isinstance(snr, str) and len(snr) == 2:
        low = check_positive_float("snr[0]", snr[0])
        high = check_positive_float("snr[1]", snr[1])
        if low > high:
            raise ValueError(f"snr must be (low, high) with low <= high; got {tuple(snr)}.")
        return low, high
    raise TypeError(
        f"snr must be a positive number or a pair (low, high); got {describe(snr)}. "
        "Pass e.g. snr=50.0 or snr=(5.0, 150.0)."
    )


def stellar_spectra(
    n: int = 1000,
    *,
    pixels: int = 512,
    snr: float | tuple[float, float] = (5.0, 150.0),
    max_extinction: float = 1.5,
    giant_fraction: float = 0.4,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
) -> StellarSpectra:
    r"""Draws stars from :func:`stellar_labels` and their noisy spectra.

    Each star gets an extinction :math:`A_V \sim U(0, \text{max\_extinction})` and a
    signal-to-noise ratio log-uniform in ``snr`` (or exactly ``snr``); the noise is Gaussian
    with standard deviation :math:`\sqrt{\max(F_0, 0.05)}/\mathrm{SNR}` per pixel, for
    noiseless flux :math:`F_0` (:func:`synthetic_spectrum`). The draws come in a fixed
    order (labels, extinction, SNR, noise), so the labels of a seed do not depend on
    ``pixels`` or ``snr``.

    Args:
        n: Number of stars.
        pixels: Number of pixels across :data:`WAVELENGTH_RANGE`; 512 by default, 16384
            for the resolution of the course's original survey spectra.
        snr: A positive number, or ``(low, high)`` for a log-uniform spread.
        max_extinction: Largest :math:`A_V` in magnitudes (0 allowed for none).
        giant_fraction: Share of giants.
        seed: Seed or CPU generator.
        dtype: Floating dtype of the tensors.

    Returns:
        A :class:`StellarSpectra`.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a size, ``snr`` or ``max_extinction`` is out of range.

    Example:
        >>> data = stellar_spectra(100, pixels=256, seed=0)
        >>> tuple(data.flux.shape), tuple(data.labels.shape), len(data)
        ((100, 256), (100, 3), 100)
    """
    n = check_positive_int("n", n)
    pixels = check_positive_int("pixels", pixels)
    low, high = _snr_range(snr)
    if (
        isinstance(max_extinction, bool)
        or not isinstance(max_extinction, numbers.Real)
        or not (0 <= max_extinction < math.inf)
    ):
        raise ValueError(
            f"max_extinction must be a finite number >= 0 (magnitudes); got {max_extinction!r}."
        )
    check_float_dtype(dtype)
    generator = check_seed(seed)
    labels, giant = stellar_labels(n, giant_fraction=giant_fraction, seed=generator)
    extinction = float(max_extinction) * torch.rand(n, generator=generator, dtype=torch.float64)
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    snr_values = low * (high / low) ** u
    noiseless = synthetic_spectrum(labels, pixels=pixels, extinction=extinction)
    noise = torch.randn(n, pixels, generator=generator, dtype=torch.float64)
    flux = noiseless + noise * noiseless.clamp(min=0.05).sqrt() / snr_values[:, None]
    return StellarSpectra(
        flux=flux.to(dtype),
        labels=labels.to(dtype),
        snr=snr_values.to(dtype),
        extinction=extinction.to(dtype),
        giant=giant,
        wavelength=_wavelength(pixels).to(dtype),
        noiseless=noiseless.to(dtype),
    )


def log_flux(flux: Tensor, *, floor: float = 0.2) -> Tensor:
    r"""The usual preprocessing of survey spectra: :math:`\log \max(\text{floor}, F)`.

    The floor keeps noise dips below zero flux from giving :math:`-\infty`.

    Args:
        flux: Flux, shape ``(*batch, pixels)``.
        floor: Smallest flux kept, > 0.

    Returns:
        Log-flux, the shape of ``flux``.

    Example:
        >>> log_flux(torch.tensor([-1.0, 0.1, 1.0])).tolist()  # doctest: +ELLIPSIS
        [-1.609..., -1.609..., 0.0]
    """
    flux = check_tensor("flux", flux, floating=True)
    floor = check_positive_float("floor", floor)
    return flux.clamp(min=floor).log()
