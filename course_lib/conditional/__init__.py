"""Conditional density estimation: a CNN encoder with Gaussian or flow heads, its training,
and the metrics and figures that judge the predicted posteriors."""

from course_lib.conditional.encoders import SpectrumEncoder
from course_lib.conditional.evaluation import Evaluation, evaluate
from course_lib.conditional.heads import (
    ContextFlow,
    DiagonalGaussianHead,
    FlowHead,
    FullGaussianHead,
)
from course_lib.conditional.model import (
    HEADS,
    ConditionalDensityModel,
    Prediction,
    conditional_model,
    load_checkpoint,
    save_checkpoint,
)
from course_lib.conditional.metrics import (
    coverage,
    normal_fit,
    pit_histogram,
    pit_ks,
    pulls,
    r2_score,
)
from course_lib.conditional.plots import (
    plot_pit,
    plot_posterior_corner,
    plot_predicted_vs_true,
    plot_pulls,
    plot_residuals,
)
from course_lib.conditional.training import split_indices, train_model

__all__ = [
    "HEADS",
    "ConditionalDensityModel",
    "ContextFlow",
    "DiagonalGaussianHead",
    "Evaluation",
    "FlowHead",
    "FullGaussianHead",
    "Prediction",
    "SpectrumEncoder",
    "conditional_model",
    "coverage",
    "evaluate",
    "load_checkpoint",
    "normal_fit",
    "pit_histogram",
    "pit_ks",
    "plot_pit",
    "plot_posterior_corner",
    "plot_predicted_vs_true",
    "plot_pulls",
    "plot_residuals",
    "pulls",
    "r2_score",
    "save_checkpoint",
    "split_indices",
    "train_model",
]
