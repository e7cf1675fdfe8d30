"""A one-dimensional convolutional encoder: a spectrum in, a fixed-size embedding out."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from course_lib._validation import check_positive_int, check_seed, describe, seeded_init
from course_lib.flows._checks import check_points, reference_tensor

__all__ = ["SpectrumEncoder"]


class SpectrumEncoder(nn.Module):
    r"""A 1-D CNN that maps a spectrum to an embedding vector.

    Each block is ``Conv1d(kernel_size) -> ReLU -> MaxPool1d(pool)``; the last block's
    feature maps are flattened (so the encoder knows *where* a line is, not only that it
    is there) and an MLP with one hidden layer gives the embedding. The cost is about
    ``pixels * kernel_size * sum(c_in * c_out)`` multiply-adds per spectrum, dominated by
    the first blocks.

    Args:
        pixels: Length of the input spectra.
        embedding_features: Size of the output embedding.
        channels: Output channels of each convolutional block.
        kernel_size: Odd kernel width of every convolution.
        pool: Pooling factor after every convolution.
        hidden_features: Width of the MLP's hidden layer.
        seed: Seed or CPU generator for the initial weights (``None``: torch's global state).

    Example:
        >>> encoder = SpectrumEncoder(256, embedding_features=16, seed=0)
        >>> tuple(encoder(torch.randn(5, 256)).shape)
        (5, 16)
    """

    def __init__(
        self,
        pixels: int,
        *,
        embedding_features: int = 32,
        channels: Sequence[int] = (16, 32, 32),
        kernel_size: int = 5,
        pool: int = 4,
        hidden_features: int = 128,
        seed: int | torch.Generator | None = None,
    ):
        super().__init__()
        self.pixels = check_positive_int("pixels", pixels)
        self.embedding_features = check_positive_int("embedding_features", embedding_features)
        kernel_size = check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, to keep the length; got {kernel_size}.")
        pool = check_positive_int("pool", pool)
        hidden_features = check_positive_int("hidden_features", hidden_features)
        if isinstance(channels, str) or not isinstance(channels, Sequence) or not channels:
            raise TypeError(
                f"channels must be a non-empty sequence of positive integers such as (16, 32); "
                f"got {describe(channels)}."
            )
        channels = [check_positive_int(f"channels[{i}]", c) for i, c in enumerate(channels)]
        length = self.pixels
        for _ in channels:
            length //= pool
        if length < 1:
            raise ValueError(
                f"pixels={self.pixels} is too short for {len(channels)} blocks pooling by "
                f"{pool}: nothing would be left. Use fewer channels or a smaller pool."
            )
        with seeded_init(check_seed(seed)):
            layers: list[nn.Module] = []
            previous = 1
            for c in channels:
                layers += [
                    nn.Conv1d(previous, c, kernel_size, padding=kernel_size // 2),
                    nn.ReLU(),
                    nn.MaxPool1d(pool),
                ]
                previous = c
            self.convolutions = nn.Sequential(*layers)
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(previous * length, hidden_features),
                nn.ReLU(),
                nn.Linear(hidden_features, self.embedding_features),
            )
        self.config = {
            "pixels": self.pixels,
            "embedding_features": self.embedding_features,
            "channels": list(channels),
            "kernel_size": kernel_size,
            "pool": pool,
            "hidden_features": hidden_features,
        }

    def forward(self, x: Tensor) -> Tensor:
        """Embeds spectra of shape ``(batch, pixels)``; returns ``(batch, embedding_features)``.

        Raises:
            TypeError: If ``x`` is not a floating tensor of the encoder's dtype.
            ValueError: If ``x`` is not 2-D with ``pixels`` columns, or holds non-finite values.
        """
        x = check_points("x", x, self.pixels, like=reference_tensor(self))
        if x.ndim != 2:
            raise ValueError(
                f"x must have shape (batch, {self.pixels}); got {tuple(x.shape)}. "
                f"Reshape it, e.g. x.reshape(-1, {self.pixels})."
            )
        return self.head(self.convolutions(x.unsqueeze(1)))

    def extra_repr(self) -> str:
        return f"pixels={self.pixels}, embedding_features={self.embedding_features}"
