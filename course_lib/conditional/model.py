r"""A conditional density model of labels given a spectrum: preprocessing, encoder, head,
the standardizations it was trained with, predictions in physical units and checkpoints.

.. math:: p(y \mid F) = p_\text{head}\big(z \mid \text{encoder}(\tilde F)\big)
          \prod_i \frac{1}{s_i}, \qquad z = (y - m) / s, \qquad
          \tilde F = \frac{\log\max(0.2, F) - \bar F}{\sigma_F},

with :math:`m, s` the training labels' means and standard deviations and
:math:`\bar F, \sigma_F` the training log-flux's per-pixel mean and standard deviation,
all stored in the model (buffers), so a checkpoint predicts in physical units on its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Normal

from course_lib._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
    format_shape,
    seeded_init,
)
from course_lib.conditional.encoders import SpectrumEncoder
from course_lib.conditional.heads import DiagonalGaussianHead, FlowHead, FullGaussianHead
from course_lib.datasets.spectra import LABEL_NAMES

__all__ = [
    "HEADS",
    "ConditionalDensityModel",
    "Prediction",
    "conditional_model",
    "load_checkpoint",
    "save_checkpoint",
]

HEADS = ("diagonal", "full", "flow")
_POINTS_PER_PASS = 65_536  # flow samples drawn at once: bounds the memory of predict and pit
_HEAD_CLASSES = {"diagonal": DiagonalGaussianHead, "full": FullGaussianHead, "flow": FlowHead}


@dataclass(frozen=True, eq=False)
class Prediction:
    """Posterior summaries in physical units.

    Attributes:
        mean: Posterior means, shape ``(batch, features)``.
        std: Posterior standard deviations of each label, shape ``(batch, features)``.
        samples: Posterior samples, shape ``(samples, batch, features)``, or ``None``.
    """

    mean: Tensor
    std: Tensor
    samples: Tensor | None


@contextlib.contextmanager
def _seeded_sampling(seed: int | torch.Generator | None, device: torch.device) -> Iterator[None]:
    """Seeds torch's global generators (the CPU's and, on CUDA, the device's) from ``seed``
    inside the block, which ``Distribution.sample`` draws from, and restores them after."""
    derived = int(torch.randint(0, 2**62, (), generator=check_seed(seed)))
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derived)
        yield


def _check_labels(name: str, labels: object, features: int, like: Tensor) -> Tensor:
    labels = check_tensor(name, labels, ndim=2, floating=True)
    if labels.shape[-1] != features:
        raise ValueError(
            f"{name} must have shape (batch, {features}); got {format_shape(labels.shape)}."
        )
    if labels.dtype != like.dtype or labels.device != like.device:
        raise TypeError(
            f"{name} must have the model's dtype and device ({like.dtype}, {like.device}); got "
            f"{labels.dtype} on {labels.device}. Convert it, e.g. {name}.to(model.label_mean)."
        )
    return labels


class ConditionalDensityModel(nn.Module):
    """Spectrum preprocessing, a :class:`SpectrumEncoder` and a density head, with the
    standardizations of inputs and labels stored as buffers.

    ``model(flux)`` returns the head's distribution over *standardized* labels (what the
    loss uses); :meth:`log_prob`, :meth:`predict` and :meth:`pit` work in physical units.

    Args:
        encoder: Maps standardized log-flux ``(batch, pixels)`` to ``(batch, embedding)``.
        head: Maps the embedding to a distribution over ``features`` labels.
        input_mean, input_std: Per-pixel mean and std of the training log-flux, ``(pixels,)``.
        label_mean, label_std: Mean and std of the training labels, ``(features,)``.
        floor: Flux floor of the preprocessing :math:`\\log\\max(\\text{floor}, F)`.
        label_names: Names of the labels.
        config: What :func:`conditional_model` needs to build the same model again.
    """

    def __init__(
        self,
        encoder: SpectrumEncoder,
        head: nn.Module,
        *,
        input_mean: Tensor,
        input_std: Tensor,
        label_mean: Tensor,
        label_std: Tensor,
        floor: float = 0.2,
        label_names: Sequence[str] = LABEL_NAMES,
        config: dict | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.floor = check_positive_float("floor", floor)
        self.label_names = tuple(label_names)
        self.register_buffer("input_mean", input_mean.detach().clone())
        self.register_buffer("input_std", input_std.detach().clone())
        self.register_buffer("label_mean", label_mean.detach().clone())
        self.register_buffer("label_std", label_std.detach().clone())
        self.config = dict(config or {})

    @property
    def features(self) -> int:
        return self.label_mean.shape[0]

    @property
    def kind(self) -> str:
        """``"diagonal"``, ``"full"`` or ``"flow"``."""
        return self.head.config["kind"]

    def _check_flux(self, flux: object) -> Tensor:
        pixels = self.input_mean.shape[0]
        flux = check_tensor("flux", flux, ndim=2, floating=True)
        if flux.shape[-1] != pixels:
            raise ValueError(
                f"flux must have shape (batch, {pixels}), the model's pixels; got "
                f"{format_shape(flux.shape)}."
            )
        if flux.dtype != self.input_mean.dtype or flux.device != self.input_mean.device:
            raise TypeError(
                f"flux must have the model's dtype and device ({self.input_mean.dtype}, "
                f"{self.input_mean.device}); got {flux.dtype} on {flux.device}."
            )
        return flux

    def embed(self, flux: Tensor) -> Tensor:
        """The encoder's embedding of raw flux, shape ``(batch, embedding_features)``."""
        x = self._check_flux(flux).clamp(min=self.floor).log()
        return self.encoder((x - self.input_mean) / self.input_std)

    def forward(self, flux: Tensor) -> Distribution:
        """The distribution of standardized labels given raw ``flux``, ``(batch, pixels)``;
        ``batch_shape == (batch,)``, ``event_shape == (features,)``."""
        return self.head(self.embed(flux))

    def standardize(self, labels: Tensor) -> Tensor:
        """``(labels - label_mean) / label_std``."""
        labels = _check_labels("labels", labels, self.features, self.label_mean)
        return (labels - self.label_mean) / self.label_std

    def loss(self, flux: Tensor, labels: Tensor) -> Tensor:
        """Mean negative log-likelihood of standardized labels (the training loss), scalar."""
        return -self(flux).log_prob(self.standardize(labels)).mean()

    def log_prob(self, flux: Tensor, labels: Tensor) -> Tensor:
        r"""Log-density of physical labels, shape ``(batch,)``: the standardized one minus
        :math:`\sum_i \log s_i`."""
        return self(flux).log_prob(self.standardize(labels)) - self.label_std.log().sum()

    @torch.no_grad()
    def predict(
        self,
        flux: Tensor,
        *,
        samples: int = 0,
        summary_samples: int = 1000,
        batch_size: int = 1024,
        seed: int | torch.Generator | None = 0,
    ) -> Prediction:
        """Posterior means, standard deviations and optionally samples, in physical units.

        Gaussian heads give exact means and standard deviations; the flow head's come from
        ``summary_samples`` samples per star.

        Args:
            flux: Raw flux, shape ``(batch, pixels)``.
            samples: Posterior samples to return per star (0 for none).
            summary_samples: Samples per star behind the flow's mean and std.
            batch_size: Stars per pass through the network.
            seed: Seed or CPU generator of the samples.

        Returns:
            A :class:`Prediction`.
        """
        flux = self._check_flux(flux)
        samples = check_nonnegative_int("samples", samples)
        summary_samples = check_positive_int("summary_samples", summary_samples)
        batch_size = check_positive_int("batch_size", batch_size)
        if self.kind == "flow":  # bound the points per pass: samples x stars
            batch_size = min(batch_size, max(1, _POINTS_PER_PASS // max(samples, summary_samples)))
        was_training = self.training
        self.eval()
        means, stds, draws = [], [], []
        with _seeded_sampling(seed, flux.device):
            for start in range(0, flux.shape[0], batch_size):
                dist = self(flux[start : start + batch_size])
                if self.kind == "flow":
                    x = dist.sample((max(samples, summary_samples),))
                    means.append(x.mean(0))
                    stds.append(x.std(0))
                    if samples:
                        draws.append(x[:samples])
                else:
                    means.append(dist.mean)
                    stds.append(dist.variance.sqrt())
                    if samples:
                        draws.append(dist.sample((samples,)))
        self.train(was_training)
        mean = torch.cat(means) * self.label_std + self.label_mean
        std = torch.cat(stds) * self.label_std
        drawn = torch.cat(draws, dim=1) * self.label_std + self.label_mean if samples else None
        return Prediction(mean=mean, std=std, samples=drawn)

    @torch.no_grad()
    def pit(
        self,
        flux: Tensor,
        labels: Tensor,
        *,
        samples: int = 1000,
        batch_size: int = 1024,
        seed: int | torch.Generator | None = 0,
    ) -> Tensor:
        r"""Probability integral transforms :math:`u_{ij} = P(Y_j \le y_{ij} \mid F_i)` of
        each true label under its predicted marginal, shape ``(batch, features)``.

        Exact (the normal CDF) for the Gaussian heads; for the flow the share of
        ``samples`` posterior samples below the truth. A calibrated model gives
        :math:`u \sim U(0, 1)`; see :func:`~course_lib.conditional.pit_histogram` and
        :func:`~course_lib.conditional.coverage`.
        """
        flux = self._check_flux(flux)
        z = self.standardize(labels)
        if z.shape[0] != flux.shape[0]:
            raise ValueError(
                f"labels must have one row per spectrum: {flux.shape[0]} rows; got "
                f"{z.shape[0]}."
            )
        samples = check_positive_int("samples", samples)
        batch_size = check_positive_int("batch_size", batch_size)
        if self.kind == "flow":
            batch_size = min(batch_size, max(1, _POINTS_PER_PASS // samples))
        was_training = self.training
        self.eval()
        values = []
        with _seeded_sampling(seed, flux.device):
            for start in range(0, flux.shape[0], batch_size):
                dist = self(flux[start : start + batch_size])
                truth = z[start : start + batch_size]
                if self.kind == "flow":
                    x = dist.sample((samples,))
                    values.append((x <= truth).to(z.dtype).mean(0))
                else:
                    marginal = Normal(dist.mean, dist.variance.sqrt())
                    values.append(marginal.cdf(truth))
        self.train(was_training)
        return torch.cat(values)


def _standardization(values: Tensor, dim: int = 0) -> tuple[Tensor, Tensor]:
    mean = values.mean(dim)
    std = values.std(dim).clamp(min=1e-6)
    return mean, std


def conditional_model(
    head: str,
    flux: Tensor,
    labels: Tensor,
    *,
    embedding_features: int = 32,
    channels: Sequence[int] = (16, 32, 32),
    kernel_size: int = 5,
    pool: int = 4,
    hidden_features: int = 128,
    floor: float = 0.2,
    flow_options: dict | None = None,
    label_names: Sequence[str] = LABEL_NAMES,
    seed: int | torch.Generator | None = 0,
) -> ConditionalDensityModel:
    """Builds a model, standardizing with the given *training* data.

    Args:
        head: ``"diagonal"``, ``"full"`` or ``"flow"``.
        flux: Training flux, shape ``(n, pixels)``: sets the pixels and the input
            standardization (per-pixel mean and std of :math:`\\log\\max(\\text{floor}, F)`).
        labels: Training labels, shape ``(n, features)``: their mean and std.
        embedding_features: Size of the encoder's embedding (the flow's context).
        channels, kernel_size, pool, hidden_features: The encoder's, see
            :class:`SpectrumEncoder`.
        floor: Flux floor of the preprocessing.
        flow_options: Keyword arguments of :class:`FlowHead` (``kind``, ``layers``, ...).
        label_names: Names of the labels, for plots.
        seed: Seed of the initial weights: the encoder's are the same for every head.

    Returns:
        A :class:`ConditionalDensityModel` on ``flux``'s dtype and device.

    Example:
        >>> from course_lib.datasets import stellar_spectra
        >>> data = stellar_spectra(64, pixels=128, seed=0)
        >>> model = conditional_model("full", data.flux, data.labels, channels=(8,), seed=0)
        >>> tuple(model.predict(data.flux[:4]).mean.shape), model.kind
        ((4, 3), 'full')
    """
    head = check_choice("head", head, HEADS)
    flux = check_tensor("flux", flux, ndim=2, floating=True)
    labels = check_tensor("labels", labels, ndim=2, floating=True)
    if labels.shape[0] != flux.shape[0]:
        raise ValueError(
            f"flux and labels must have one row per star; got {flux.shape[0]} spectra and "
            f"{labels.shape[0]} label rows."
        )
    if flux.shape[0] < 2:
        raise ValueError("flux must hold at least 2 spectra, to standardize with.")
    floor = check_positive_float("floor", floor)
    flow_options = dict(flow_options or {})
    if head != "flow" and flow_options:
        raise ValueError(f"flow_options apply only to head='flow'; got head={head!r}.")
    encoder_options = {
        "embedding_features": embedding_features,
        "channels": list(channels),
        "kernel_size": kernel_size,
        "pool": pool,
        "hidden_features": hidden_features,
    }
    input_mean, input_std = _standardization(flux.clamp(min=floor).log())
    label_mean, label_std = _standardization(labels)
    model = _build(
        head,
        flux.shape[1],
        labels.shape[1],
        encoder_options,
        flow_options,
        floor,
        tuple(label_names),
        seed,
        input_mean=input_mean,
        input_std=input_std,
        label_mean=label_mean,
        label_std=label_std,
    )
    return model.to(device=flux.device, dtype=flux.dtype)


def _build(
    head: str,
    pixels: int,
    features: int,
    encoder_options: dict,
    flow_options: dict,
    floor: float,
    label_names: tuple[str, ...],
    seed: int | torch.Generator | None,
    **standardization: Tensor,
) -> ConditionalDensityModel:
    if len(label_names) != features:
        raise ValueError(
            f"label_names must name the {features} labels; got {len(label_names)} names."
        )
    with seeded_init(seed) as generator:
        encoder = SpectrumEncoder(pixels, **encoder_options, seed=generator)
        options = flow_options if head == "flow" else {}
        head_module = _HEAD_CLASSES[head](
            encoder.embedding_features, features, **options, seed=generator
        )
    config = {
        "head": head,
        "pixels": pixels,
        "features": features,
        "encoder": encoder_options,
        "flow_options": flow_options,
        "floor": floor,
        "label_names": list(label_names),
    }
    return ConditionalDensityModel(
        encoder,
        head_module,
        floor=floor,
        label_names=label_names,
        config=config,
        **standardization,
    )


def save_checkpoint(model: ConditionalDensityModel, path: str | os.PathLike) -> None:
    """Saves the model's configuration, weights and standardizations to ``path``.

    Raises:
        TypeError: If ``model`` is not a :class:`ConditionalDensityModel` built by
            :func:`conditional_model`.
    """
    if not isinstance(model, ConditionalDensityModel) or "head" not in model.config:
        raise TypeError(
            f"model must be a ConditionalDensityModel built by conditional_model; got "
            f"{describe(model)}."
        )
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"config": model.config, "state_dict": state}, os.fspath(path))


def load_checkpoint(
    path: str | os.PathLike, *, device: str | torch.device | None = None
) -> ConditionalDensityModel:
    """Rebuilds a model saved by :func:`save_checkpoint` (weights only: no code is unpickled).

    Args:
        path: The checkpoint file.
        device: Where to put the model (the CPU when ``None``).

    Returns:
        The model, in eval mode, with the saved dtype.
    """
    saved = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or {"config", "state_dict"} - saved.keys():
        raise ValueError(f"{os.fspath(path)!r} is not a checkpoint written by save_checkpoint.")
    config, state = saved["config"], saved["state_dict"]
    like = state["label_mean"]
    model = _build(
        config["head"],
        config["pixels"],
        config["features"],
        config["encoder"],
        config["flow_options"],
        config["floor"],
        tuple(config["label_names"]),
        0,
        input_mean=state["input_mean"],
        input_std=state["input_std"],
        label_mean=state["label_mean"],
        label_std=state["label_std"],
    )
    model = model.to(like.dtype)
    model.load_state_dict(state)
    if device is not None:
        model = model.to(device)
    return model.eval()

