"""Optimal transport: Sinkhorn divergences, closed-form 1-D distances, pushforward generators.

- :mod:`~course_lib.transport.sinkhorn`: entropic OT in the log domain and the debiased
  Sinkhorn divergence, in geomloss' convention (cost half the squared distance,
  epsilon = blur**2);
- :mod:`~course_lib.transport.wasserstein1d`: closed-form W1 and W2 between 1-D samples;
- :mod:`~course_lib.transport.pushforward`: a generator network fitted by a sample divergence.
"""

from course_lib.transport.pushforward import (
    DIVERGENCES,
    PushforwardGenerator,
    fit_pushforward,
    sample_divergence,
)
from course_lib.transport.sinkhorn import (
    entropic_ot,
    log_sinkhorn,
    log_sinkhorn_symmetric,
    sinkhorn_divergence,
    squared_distance_cost,
)
from course_lib.transport.wasserstein1d import wasserstein1_1d, wasserstein2_1d

__all__ = [
    "DIVERGENCES",
    "PushforwardGenerator",
    "entropic_ot",
    "fit_pushforward",
    "log_sinkhorn",
    "log_sinkhorn_symmetric",
    "sample_divergence",
    "sinkhorn_divergence",
    "squared_distance_cost",
    "wasserstein1_1d",
    "wasserstein2_1d",
]
