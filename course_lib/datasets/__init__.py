r"""Seeded, offline data generators for the chapters and assignments.

- :mod:`~course_lib.datasets.choice`: binary choices for the logit model;
- :mod:`~course_lib.datasets.bimodal`: a one-dimensional bimodal sample;
- :mod:`~course_lib.datasets.toy2d`: two-dimensional toy distributions with exact
  densities and true entropies;
- :mod:`~course_lib.datasets.iris`: scikit-learn's bundled iris data;
- :mod:`~course_lib.datasets.spectra`: synthetic stellar spectra and their labels.
"""

from course_lib.datasets.bimodal import bimodal_1d
from course_lib.datasets.choice import ChoiceData, binary_choice
from course_lib.datasets.iris import iris
from course_lib.datasets.spectra import (
    LABEL_NAMES,
    LABEL_UNITS,
    WAVELENGTH_RANGE,
    StellarSpectra,
    log_flux,
    stellar_labels,
    stellar_spectra,
    synthetic_spectrum,
)
from course_lib.datasets.toy2d import (
    ToyDistribution,
    boomerang,
    checkerboard,
    eight_gaussians,
    pinwheel,
    true_entropy,
    two_blobs,
    two_moons,
    two_spirals,
)

__all__ = [
    "LABEL_NAMES",
    "LABEL_UNITS",
    "WAVELENGTH_RANGE",
    "ChoiceData",
    "StellarSpectra",
    "ToyDistribution",
    "bimodal_1d",
    "binary_choice",
    "boomerang",
    "checkerboard",
    "eight_gaussians",
    "iris",
    "log_flux",
    "pinwheel",
    "stellar_labels",
    "stellar_spectra",
    "synthetic_spectrum",
    "true_entropy",
    "two_blobs",
    "two_moons",
    "two_spirals",
]
