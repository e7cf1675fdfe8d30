"""Shared test options and fixtures: ``--device``/``--dtype`` and a seeded torch per test."""

import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device", default="cpu", help="torch device for the library tests (default: cpu)"
    )
    parser.addoption(
        "--dtype",
        default="float64",
        choices=("float32", "float64"),
        help="floating dtype for the library tests (default: float64)",
    )


@pytest.fixture(autouse=True)
def _seeded_torch():
    """Every test starts from the same torch random state and leaves the caller's intact."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device given by ``--device``; tests are skipped where it is unavailable."""
    chosen = torch.device(request.config.getoption("--device"))
    if chosen.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device asks for CUDA, which is not available")
    return chosen


@pytest.fixture
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """The floating dtype given by ``--dtype``."""
    return getattr(torch, request.config.getoption("--dtype"))


@pytest.fixture(scope="session")
def book():
    """The book built as `make book` builds it (incremental: unchanged chapters are cached);
    shared by the book and browser tests. Returns the HTML folder."""
    from tests.book_site import HTML, MATHJAX, build_book

    assert MATHJAX.is_file(), f"MathJax is not bundled at {MATHJAX}: run `make mathjax`"
    result = build_book()
    log = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0, f"the book build failed or warned:\n{log}"
    return HTML
