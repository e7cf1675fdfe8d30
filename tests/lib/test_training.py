"""Tests for course_lib.training: seeding, device choice and the fit loop."""

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.training import History, fit, pick_device, seed_everything


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def regression_data(n=64, *, slope=2.0, dtype=torch.float64, device="cpu", seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    y = slope * x + 0.5 + 0.1 * torch.randn(n, 1, generator=generator, dtype=torch.float64)
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def linear(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(1, 1).to(dtype)


# seed_everything and pick_device


def test_seed_everything_repeats_torch_numpy_and_random():
    def draw():
        return torch.rand(2).tolist(), np.random.rand(2).tolist(), random.random()

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first


@pytest.mark.parametrize(
    ("seed", "error"), [(-1, ValueError), (2**32, ValueError), (1.0, TypeError)]
)
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed must be"):
        seed_everything(seed)


def test_pick_device_prefers_the_explicit_argument():
    assert pick_device("cpu", torch.zeros(1, device="meta")) == torch.device("cpu")


def test_pick_device_follows_the_tensors():
    assert pick_device(None, torch.zeros(1, device="meta")) == torch.device("meta")
    assert pick_device(None, torch.zeros(1), torch.ones(2)) == torch.device("cpu")


def test_pick_device_rejects_tensors_on_different_devices():
    with pytest.raises(ValueError, match="different devices"):
        pick_device(None, torch.zeros(1), torch.zeros(1, device="meta"))


def test_pick_device_without_tensors_uses_cuda_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected


def test_pick_device_rejects_unknown_names():
    with pytest.raises(ValueError, match="device must name a torch device"):
        pick_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_pick_device_rejects_unavailable_cuda():
    with pytest.raises(ValueError, match="torch.cuda.is_available"):
        pick_device("cuda")


# fit: the basic loop


def test_fit_decreases_the_loss_on_a_regression(device, dtype):
    x, y = regression_data(dtype=dtype, device=device)
    model = linear(dtype)
    history = fit(model, mse, (x, y), lr=0.05, steps=200, progress=False)
    assert history.train_loss[-1] < 0.1 * history.train_loss[0]
    assert history.train_loss[-1] < 0.02  # the noise variance is 0.01
    assert next(model.parameters()).device.type == device.type


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"steps": 7}, 7),
        ({"epochs": 5}, 5),  # full batch: one step per epoch
        ({"epochs": 2, "batch_size": 30}, 6),  # ceil(64 / 30) = 3 batches per epoch
        ({"steps": 10, "batch_size": 30}, 10),  # steps run across epoch boundaries
    ],
)
def test_fit_honours_steps_and_epochs(kwargs, expected):
    x, y = regression_data()
    history = fit(linear(), mse, (x, y), progress=False, **kwargs)
    assert history.steps == expected
    assert len(history.train_loss) == expected


def test_fit_uses_the_given_batch_size():
    x, y = regression_data(n=10)
    sizes = []

    def loss_fn(model, x, y):
        sizes.append(x.shape[0])
        return mse(model, x, y)

    fit(linear(), loss_fn, (x, y), epochs=2, batch_size=4, progress=False)
    assert sizes == [4, 4, 2, 4, 4, 2]


def test_fit_accepts_a_single_tensor():
    x = torch.randn(32, 2, dtype=torch.float64)
    model = nn.Linear(2, 1).double()
    history = fit(model, lambda m, x: (m(x) ** 2).mean(), x, lr=0.1, steps=50, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_requires_exactly_one_of_steps_and_epochs():
    x, y = regression_data()
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        fit(linear(), mse, (x, y), progress=False)
    with pytest.raises(ValueError, match="exactly one of steps and epochs"):
        fit(linear(), mse, (x, y), steps=3, epochs=3, progress=False)


def test_fit_rejects_tensors_with_different_batch_sizes():
    with pytest.raises(ValueError, match="share their first"):
        fit(linear(), mse, (torch.zeros(5, 1), torch.zeros(4, 1)), steps=1, progress=False)


def test_fit_rejects_non_finite_data_naming_it():
    x, y = regression_data()
    x[3, 0] = float("nan")
    with pytest.raises(ValueError, match=r"data\[0\] must contain only finite values"):
        fit(linear(), mse, (x, y), steps=1, progress=False)


def test_fit_rejects_a_non_scalar_loss():
    x, y = regression_data()
    with pytest.raises(ValueError, match=r"scalar tensor .*got shape \(64, 1\)"):
        fit(linear(), lambda m, x, y: (m(x) - y) ** 2, (x, y), steps=1, progress=False)


def test_fit_rejects_a_float_loss_and_a_loss_without_gradient():
    x, y = regression_data()
    with pytest.raises(TypeError, match=r"scalar torch.Tensor; got a float .*without .item\(\)"):
        fit(linear(), lambda m, x, y: mse(m, x, y).item(), (x, y), steps=1, progress=False)
    with pytest.raises(ValueError, match="does not depend on the model's parameters"):
        fit(linear(), lambda m, x, y: (y**2).mean(), (x, y), steps=1, progress=False)


def test_fit_rejects_a_one_shot_iterator():
    x, y = regression_data()
    with pytest.raises(TypeError, match="one-shot iterator"):
        fit(linear(), mse, iter([(x, y)]), steps=1, progress=False)


def test_fit_trains_in_train_mode_and_leaves_eval_mode():
    x, y = regression_data()
    modes = []

    def loss_fn(model, x, y):
        modes.append(model.training)
        return mse(model, x, y)

    model = linear()
    fit(model, loss_fn, (x, y), steps=3, progress=False)
    assert modes == [True, True, True]
    assert not model.training


# fit: non-finite losses


def test_fit_raises_on_a_nan_loss_naming_the_step():
    x, y = regression_data()
    calls = []

    def loss_fn(model, x, y):
        calls.append(1)
        loss = mse(model, x, y)
        return loss * float("nan") if len(calls) == 3 else loss

    with pytest.raises(FloatingPointError, match="loss is nan at step 3; lower lr"):
        fit(linear(), loss_fn, (x, y), steps=10, progress=False)


def test_fit_raises_when_a_huge_learning_rate_diverges():
    x, y = regression_data()
    with pytest.raises(FloatingPointError, match=r"loss is (inf|nan) at step \d+"):
        fit(linear(), mse, (x, y), optimizer=lambda p: torch.optim.SGD(p, lr=1e6),
            steps=500, progress=False)


def test_fit_raises_on_a_nan_validation_loss():
    x, y = regression_data()
    x_val = x.clone()

    def loss_fn(model, x, y):
        loss = mse(model, x, y)
        return loss * float("nan") if not model.training else loss

    with pytest.raises(FloatingPointError, match="validation loss is nan at step 1"):
        fit(linear(), loss_fn, (x, y), val_data=(x_val, y), steps=3, progress=False)


# fit: seeds and randomness


class Noisy(nn.Module):
    """A linear model with dropout, so that training draws from the global generator."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1).double()
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        return self.dropout(self.linear(x))


def run_noisy(seed, **kwargs):
    torch.manual_seed(0)
    model = Noisy()
    x, y = regression_data()
    history = fit(model, mse, (x, y), steps=20, batch_size=16, seed=seed, progress=False, **kwargs)
    return history, model


def test_fit_same_seed_repeats_exactly():
    first, model_a = run_noisy(seed=3)
    torch.rand(5)  # moving the global generator in between changes nothing
    second, model_b = run_noisy(seed=3)
    assert first.train_loss == second.train_loss
    assert torch.equal(model_a.linear.weight, model_b.linear.weight)


def test_fit_different_seeds_differ():
    assert run_noisy(seed=3)[0].train_loss != run_noisy(seed=4)[0].train_loss


def test_fit_with_a_seed_leaves_the_global_generator_untouched():
    x, y = regression_data()
    model = Noisy()
    state = torch.random.get_rng_state()
    fit(model, mse, (x, y), steps=5, batch_size=16, seed=3, progress=False)
    assert torch.equal(state, torch.random.get_rng_state())


def test_fit_accepts_a_generator_as_seed():
    x, y = regression_data()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        history = fit(Noisy(), mse, (x, y), steps=5, batch_size=16, progress=False,
                      seed=torch.Generator().manual_seed(5))
        runs.append(history.train_loss)
    assert runs[0] == runs[1]


# fit: data loaders and optimizers


def test_fit_accepts_a_data_loader_and_counts_its_batches():
    x, y = regression_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    history = fit(linear(), mse, loader, epochs=3, lr=0.05, seed=0, progress=False)
    assert history.steps == 3 * len(loader)
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_with_a_shuffling_data_loader_repeats_under_a_seed():
    x, y = regression_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    a = fit(linear(), mse, loader, steps=12, seed=1, progress=False)
    b = fit(linear(), mse, loader, steps=12, seed=1, progress=False)
    assert a.train_loss == b.train_loss


def test_fit_accepts_a_list_of_batches():
    x, y = regression_data()
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]
    history = fit(linear(), mse, batches, epochs=2, progress=False)
    assert history.steps == 4


def test_fit_rejects_batch_size_with_a_data_loader():
    x, y = regression_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    with pytest.raises(ValueError, match="batch_size applies only to tensor data"):
        fit(linear(), mse, loader, steps=1, batch_size=8, progress=False)


def test_fit_accepts_an_optimizer_factory_and_a_built_optimizer():
    x, y = regression_data()
    model = linear()
    history = fit(model, mse, (x, y), optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                  steps=100, progress=False)
    assert history.train_loss[-1] < 0.02
    model = linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, mse, (x, y), optimizer=optimizer, steps=100, progress=False)
    assert history.train_loss[-1] < 0.02


def test_fit_rejects_an_optimizer_built_for_another_model():
    x, y = regression_data()
    optimizer = torch.optim.SGD(linear().parameters(), lr=0.1)
    with pytest.raises(ValueError, match="not the model's"):
        fit(linear(), mse, (x, y), optimizer=optimizer, steps=1, progress=False)


def test_fit_works_with_lbfgs_which_needs_a_closure():
    x, y = regression_data()
    model = linear()
    history = fit(model, mse, (x, y), optimizer=lambda p: torch.optim.LBFGS(p), steps=5,
                  progress=False)
    # Least squares has a closed form: compare with it.
    design = torch.cat([x, torch.ones_like(x)], dim=1)
    solution = torch.linalg.lstsq(design, y).solution[:, 0]
    assert torch.allclose(model.weight[0, 0], solution[0], atol=1e-6)
    assert torch.allclose(model.bias[0], solution[1], atol=1e-6)
    assert history.steps == 5


def test_fit_clips_the_gradient_norm():
    x, y = regression_data()
    model = linear()
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    fit(model, lambda m, x, y: 1e6 * mse(m, x, y), (x, y),
        optimizer=lambda p: torch.optim.SGD(p, lr=1.0), steps=1, grad_clip=0.5, progress=False)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.linalg.vector_norm(after - before) <= 0.5 + 1e-9


# fit: validation and early stopping


def test_fit_records_validation_every_eval_every_steps_and_at_the_end():
    x, y = regression_data()
    history = fit(linear(), mse, (x, y), val_data=(x, y), steps=10, eval_every=3,
                  progress=False)
    assert history.val_steps == [3, 6, 9, 10]
    assert len(history.val_loss) == 4


def test_fit_validates_in_eval_mode_without_gradients():
    x, y = regression_data()
    seen = []

    def loss_fn(model, x, y):
        seen.append((model.training, torch.is_grad_enabled()))
        return mse(model, x, y)

    fit(linear(), loss_fn, (x, y), val_data=(x, y), steps=1, progress=False)
    assert seen == [(True, True), (False, False)]


def overshooting_run(**kwargs):
    """Training pulls the slope to 2, validation prefers 1: validation improves, then worsens."""
    x, y = regression_data(slope=2.0)
    x_val, y_val = regression_data(slope=1.0, seed=1)
    model = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(0.0)
    history = fit(model, mse, (x, y), val_data=(x_val, y_val), lr=0.05, steps=200,
                  progress=False, **kwargs)
    return history, model, (x_val, y_val)


def test_fit_early_stopping_stops_after_patience_evaluations():
    history, _, _ = overshooting_run(patience=5)
    assert history.stopped_early
    assert history.steps < 200
    assert history.val_steps[-1] == history.best_step + 5
    assert history.best_val_loss == min(history.val_loss)
    assert history.val_loss[-1] > history.best_val_loss


def test_fit_early_stopping_restores_the_best_weights():
    history, model, (x_val, y_val) = overshooting_run(patience=5)
    with torch.no_grad():
        assert mse(model, x_val, y_val).item() == pytest.approx(history.best_val_loss, rel=1e-12)
    assert model.weight.item() == pytest.approx(1.0, abs=0.2)  # validation's own slope


def test_fit_restore_best_false_keeps_the_last_weights():
    history, model, (x_val, y_val) = overshooting_run(patience=5, restore_best=False)
    with torch.no_grad():
        assert mse(model, x_val, y_val).item() == pytest.approx(history.val_loss[-1], rel=1e-12)


def test_fit_without_patience_runs_the_full_budget_and_still_restores_the_best():
    history, model, (x_val, y_val) = overshooting_run()
    assert history.steps == 200 and not history.stopped_early
    with torch.no_grad():
        assert mse(model, x_val, y_val).item() == pytest.approx(history.best_val_loss, rel=1e-12)


def test_fit_patience_needs_validation_data():
    x, y = regression_data()
    with pytest.raises(ValueError, match="patience needs val_data"):
        fit(linear(), mse, (x, y), steps=5, patience=2, progress=False)


# fit: output


def test_fit_progress_false_writes_nothing(capfd):
    x, y = regression_data()
    fit(linear(), mse, (x, y), val_data=(x, y), steps=20, progress=False)
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_fit_progress_true_shows_a_bar_with_the_loss(capfd):
    x, y = regression_data()
    fit(linear(), mse, (x, y), steps=20, progress=True)
    err = capfd.readouterr().err
    assert "20/20" in err and "loss" in err


def test_history_defaults_are_empty():
    history = History()
    assert history.train_loss == [] and history.steps == 0 and history.best_step is None
