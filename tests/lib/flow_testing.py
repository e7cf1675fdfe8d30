"""Helpers shared by the flow tests."""

import torch


def randomized(module, scale=0.5, seed=0):
    """The module with every parameter moved by ``scale`` times standard normal noise."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.add_(scale * noise.to(parameter.dtype))
    return module
