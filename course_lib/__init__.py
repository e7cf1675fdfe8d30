"""Reference implementations for the course on deep probabilistic models."""

__version__ = "0.1.0"
