"""Doctest set-up: each example starts from a seeded torch and leaves global state intact."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded_torch():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield
