"""Tests for course_lib.plotting: the shared figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.plotting import (  # noqa: E402
    plot_bernoulli_kl,
    plot_binned_shares,
    plot_cdf_area,
    plot_density_fits,
    plot_history,
    plot_kl_integrand,
    plot_samples,
)
from course_lib.training import History, fit  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_training_loss_per_step():
    history = History(train_loss=[3.0, 2.0, 1.0], steps=3)
    ax = plot_history(history)
    (line,) = ax.lines
    assert list(line.get_xdata()) == [1, 2, 3]
    assert list(line.get_ydata()) == [3.0, 2.0, 1.0]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"


def test_plot_history_marks_validation_and_the_best_step():
    history = History(train_loss=[3.0, 2.0, 1.0, 0.5], val_loss=[2.5, 2.7], val_steps=[2, 4],
                      best_step=2, best_val_loss=2.5, steps=4)
    ax = plot_history(history, title="run")
    train, val, best = ax.lines
    assert list(val.get_xdata()) == [2, 4] and list(val.get_ydata()) == [2.5, 2.7]
    assert list(best.get_xdata()) == [2, 2]  # a vertical line at the best step
    assert ax.get_title() == "run"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["training", "validation", "best step (2)"]


def test_plot_history_of_a_real_run_with_early_stopping():
    x = torch.linspace(-1, 1, 20).unsqueeze(-1)
    model = torch.nn.Linear(1, 1)
    history = fit(model, lambda m, x, y: ((m(x) - y) ** 2).mean(), (x, 2 * x),
                  val_data=(x, -x), lr=0.05, steps=30, patience=3, progress=False)
    ax = plot_history(history)
    assert len(ax.lines) == 3
    assert np.allclose(ax.lines[0].get_ydata(), history.train_loss)


def test_plot_history_draws_on_given_axes_and_log_scale():
    _, ax = plt.subplots()
    assert plot_history(History(train_loss=[1.0, 0.1], steps=2), ax=ax, log_scale=True) is ax
    assert ax.get_yscale() == "log"


def test_plot_history_rejects_bad_input():
    with pytest.raises(TypeError, match="history must be a course_lib.training.History"):
        plot_history([1.0, 2.0])
    with pytest.raises(ValueError, match="history holds no steps"):
        plot_history(History())
    with pytest.raises(ValueError, match="log_scale needs positive losses"):
        plot_history(History(train_loss=[1.0, -0.5], steps=2), log_scale=True)


def test_plot_binned_shares_draws_shares_with_the_probability_curve():
    from course_lib.datasets import binary_choice

    data = binary_choice(n=2000, seed=0)
    ax = plot_binned_shares(data.x[:, 0], data.y, lambda t: torch.sigmoid(1 + 2 * t), bins=10)
    (curve,) = ax.lines[-1:]
    assert len(curve.get_xdata()) == 200
    # The binned shares are those of the data, computed independently with numpy.
    x, y = data.x[:, 0].double().numpy(), data.y.double().numpy()
    edges = np.linspace(x.min(), x.max(), 11)
    index = np.clip(np.digitize(x, edges) - 1, 0, 9)
    expected = [y[index == b].mean() for b in range(10) if (index == b).any()]
    (container,) = ax.containers
    assert np.allclose(container.lines[0].get_ydata(), expected)


def test_plot_binned_shares_rejects_two_dimensional_x():
    with pytest.raises(ValueError, match=r"x must be 1-D.*x\[:, 0\]"):
        plot_binned_shares(torch.zeros(5, 1), torch.zeros(5))


def test_plot_bernoulli_kl_curves_differ_by_the_entropy_and_share_their_minimum():
    y = torch.tensor([0.0, 1.0, 1.0, 1.0])
    ax = plot_bernoulli_kl(y)
    nll, kl, share = ax.lines
    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert np.allclose(nll.get_ydata() - kl.get_ydata(), entropy)
    q = np.asarray(kl.get_xdata())
    assert abs(q[np.argmin(kl.get_ydata())] - 0.75) < 0.01
    assert min(kl.get_ydata()) >= 0
    assert share.get_xdata()[0] == pytest.approx(0.75)


def test_plot_bernoulli_kl_needs_both_outcomes():
    with pytest.raises(ValueError, match="both outcomes"):
        plot_bernoulli_kl(torch.ones(4))


def test_plot_density_fits_draws_both_losses_and_the_density():
    class Gaussian(torch.nn.Module):
        low, high = -4.0, 4.0

        def __init__(self):
            super().__init__()
            self.shift = torch.nn.Parameter(torch.zeros(()))

        def log_prob(self, x):
            return torch.distributions.Normal(self.shift, 1.0).log_prob(x)

    sample = torch.randn(200)
    bad = History(train_loss=[1.0, 0.0, -1.0], steps=3)
    good = History(train_loss=[2.0, 1.5, 1.4], steps=3)
    left, right = plot_density_fits(sample, bad, good, Gaussian())
    assert [list(line.get_ydata()) for line in left.lines] == [bad.train_loss, good.train_loss]
    (curve,) = right.lines
    assert curve.get_xdata()[0] == -4.0 and curve.get_xdata()[-1] == 4.0
    assert np.trapezoid(curve.get_ydata(), curve.get_xdata()) == pytest.approx(1.0, abs=1e-3)


def test_plot_kl_integrand_integrates_to_the_gaussian_kl():
    from torch.distributions import Normal

    p, q = Normal(0.0, 1.0), Normal(2.0, 1.5)
    _, bottom = plot_kl_integrand(p, q, low=-10.0, high=12.0)
    expected = float(torch.distributions.kl_divergence(p, q))
    label = bottom.get_legend().get_texts()[0].get_text()
    assert f"{expected:.3f}" in label, (label, expected)
    with pytest.raises(TypeError, match="q must be a 1-D distribution with a log_prob"):
        plot_kl_integrand(p, 2.0)


def test_plot_cdf_area_shows_the_w1_of_a_shift():
    from torch.distributions import Normal

    ax = plot_cdf_area(Normal(0.0, 1.0), Normal(-1.5, 1.0), low=-9.0, high=8.0)
    assert "1.500" in ax.get_legend().get_texts()[2].get_text()
    with pytest.raises(ValueError, match="low must be smaller than high"):
        plot_cdf_area(Normal(0.0, 1.0), Normal(1.0, 1.0), low=1.0, high=0.0)


def test_plot_samples_draws_histograms_in_1d_and_scatters_in_2d():
    ax = plot_samples(torch.randn(200), torch.randn(200, 1), extent=(-3.0, 3.0))
    assert len(ax.patches) > 0 and ax.get_xlabel() == "x"
    ax = plot_samples(torch.randn(50, 2), torch.randn(60, 2))
    assert len(ax.collections) == 2
    with pytest.raises(ValueError, match="target must have shape"):
        plot_samples(torch.randn(50, 2), torch.randn(60, 1))
