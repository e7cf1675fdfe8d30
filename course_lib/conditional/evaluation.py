"""One call that scores a trained model on held-out stars: NLL, pulls, PIT, coverage, R²."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib._validation import check_positive_int, describe
from course_lib.conditional.metrics import coverage, normal_fit, pit_ks, pulls, r2_score
from course_lib.conditional.model import ConditionalDensityModel, Prediction

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Scores of a model on held-out stars; per-label tensors have shape ``(labels,)``.

    Attributes:
        nll: Mean negative log-density of the standardized labels, nats per star (the
            training loss; subtract ``sum(log label_std)`` for physical units).
        pull_mean, pull_std: The normal fitted to the pulls (ideally 0 and 1).
        coverage68, coverage95: Coverage of the central 68% and 95% intervals.
        pit_ks: Kolmogorov-Smirnov distance of the PIT values from uniform.
        r2: :math:`R^2` of the posterior means.
        prediction: The posterior means and standard deviations (physical units).
        pulls: Shape ``(stars, labels)``.
        pit: Shape ``(stars, labels)``.
    """

    nll: float
    pull_mean: Tensor
    pull_std: Tensor
    coverage68: Tensor
    coverage95: Tensor
    pit_ks: Tensor
    r2: Tensor
    prediction: Prediction
    pulls: Tensor
    pit: Tensor

    def summary(self) -> dict[str, float | list[float]]:
        """The scores as plain numbers, e.g. for a table or a JSON file."""
        return {
            "nll": self.nll,
            "pull_mean": self.pull_mean.tolist(),
            "pull_std": self.pull_std.tolist(),
            "coverage68": self.coverage68.tolist(),
            "coverage95": self.coverage95.tolist(),
            "pit_ks": self.pit_ks.tolist(),
            "r2": self.r2.tolist(),
        }


@torch.no_grad()
def evaluate(
    model: ConditionalDensityModel,
    flux: Tensor,
    labels: Tensor,
    *,
    samples: int = 1000,
    batch_size: int = 1024,
    seed: int | torch.Generator | None = 0,
) -> Evaluation:
    """Scores ``model`` on stars it was not trained on.

    Args:
        model: A trained model.
        flux: Raw flux, shape ``(stars, pixels)``.
        labels: True labels in physical units, shape ``(stars, labels)``.
        samples: Posterior samples per star for the flow head's mean, std and PIT.
        batch_size: Stars per pass.
        seed: Seed of the samples.

    Returns:
        An :class:`Evaluation`.

    Example:
        >>> from course_lib.conditional import conditional_model
        >>> from course_lib.datasets import stellar_spectra
        >>> data = stellar_spectra(64, pixels=128, seed=0)
        >>> model = conditional_model("diagonal", data.flux, data.labels, channels=(8,))
        >>> result = evaluate(model, data.flux, data.labels)
        >>> tuple(result.pulls.shape), tuple(result.coverage95.shape)
        ((64, 3), (3,))
    """
    if not isinstance(model, ConditionalDensityModel):
        raise TypeError(f"model must be a ConditionalDensityModel; got {describe(model)}.")
    samples = check_positive_int("samples", samples)
    was_training = model.training
    model.eval()
    z = model.standardize(labels)
    total = 0.0
    for start in range(0, z.shape[0], batch_size):
        dist = model(flux[start : start + batch_size])
        total += float(dist.log_prob(z[start : start + batch_size]).sum())
    if model.kind == "flow":
        # One set of samples gives the mean, the std and the PIT.
        prediction = model.predict(
            flux, samples=samples, summary_samples=samples, batch_size=batch_size, seed=seed
        )
        pit = (prediction.samples <= labels).to(labels.dtype).mean(0)
    else:
        prediction = model.predict(flux, batch_size=batch_size, seed=seed)
        pit = model.pit(flux, labels, batch_size=batch_size)
    model.train(was_training)
    values = pulls(labels, prediction.mean, prediction.std)
    pull_mean, pull_std = normal_fit(values)
    covered = coverage(pit, (0.68, 0.95))
    return Evaluation(
        nll=-total / z.shape[0],
        pull_mean=pull_mean,
        pull_std=pull_std,
        coverage68=covered[0],
        coverage95=covered[1],
        pit_ks=pit_ks(pit),
        r2=r2_score(labels, prediction.mean),
        prediction=prediction,
        pulls=values,
        pit=pit,
    )
