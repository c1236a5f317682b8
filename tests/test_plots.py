"""The figures draw the numbers they are given (read back from the artists)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from hybridrec_jax import (  # noqa: E402
    plot_bars,
    plot_history,
    plot_predictions,
    plot_seed_bands,
    plot_sweep,
    run_curves,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def test_history_draws_train_loss_and_each_validation_metric(tmp_path):
    history = [
        {"epoch": 1, "train_loss": 1.5, "val_rmse": 1.25, "val_mae": 1.0},
        {"epoch": 2, "train_loss": 1.0, "val_rmse": 1.125},
        {"epoch": 3, "train_loss": 0.75, "val_rmse": 1.0, "val_mae": 0.5},
    ]
    fig = plot_history(history, tmp_path / "sub" / "curves.png")
    (loss,) = fig.axes[0].get_lines()
    assert loss.get_ydata().tolist() == [1.5, 1.0, 0.75]
    val = lines_by_label(fig.axes[1])
    assert val["rmse"].get_ydata().tolist() == [1.25, 1.125, 1.0]
    # A metric missing from an epoch is drawn only where it was measured.
    assert val["mae"].get_xdata().tolist() == [1, 3]
    assert (tmp_path / "sub" / "curves.png").read_bytes()[:8] == PNG_MAGIC


def test_predictions_on_a_rating_scale_box_and_mean_each_rating():
    rng = np.random.default_rng(0)
    y = rng.integers(1, 6, 500).astype(float)
    y_hat = y + rng.normal(0, 0.5, 500)
    fig = plot_predictions(y, y_hat)
    pairs_ax, error_ax = fig.axes
    means = lines_by_label(pairs_ax)["mean y_hat"]
    assert np.allclose(means.get_ydata(), [y_hat[y == v].mean() for v in range(1, 6)])
    # A box for each rating, its middle line at the median of its predictions.
    for v in range(1, 6):
        flat = [line.get_ydata()[0] for line in pairs_ax.get_lines()
                if len(line.get_xdata()) == 2 and np.mean(line.get_xdata()) == v
                and line.get_ydata()[0] == line.get_ydata()[1]]  # fmt: skip
        assert np.isclose(flat, np.median(y_hat[y == v])).any()
    rmse = np.sqrt(np.mean((y_hat - y) ** 2))
    assert error_ax.get_title() == f"RMSE {rmse:.4f}"
    assert sum(p.get_height() for p in error_ax.patches) == 500


def test_predictions_on_a_continuous_scale_count_every_pair():
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 5, 300)
    fig = plot_predictions(y, y + rng.normal(0, 0.3, 300))
    (hexes,) = fig.axes[0].collections
    assert hexes.get_array().sum() == 300
    assert "mean y_hat" not in lines_by_label(fig.axes[0])


def test_run_curves_count_the_compile_epoch_at_the_mean_of_the_others():
    history = [{"epoch": 1, "train_loss": 2.0, "seconds": 10.0, "val_rmse": 1.5},
               {"epoch": 2, "train_loss": 1.0, "seconds": 2.0},
               {"epoch": 3, "train_loss": 0.5, "seconds": 4.0}]  # fmt: skip
    curves = run_curves(history)
    assert curves["seconds"] == [3.0, 5.0, 9.0]  # 3 = mean(2, 4)
    assert curves["train_loss"] == [2.0, 1.0, 0.5]
    assert "val_rmse" not in curves  # not a column: missing from two epochs


def test_seed_bands_draw_mean_and_standard_deviation_over_seeds():
    runs = {
        "adam": [{"val_rmse": [1.0, 0.8, 0.7], "seconds": [1.0, 2.0, 3.0]},
                 {"val_rmse": [1.2, 1.0, 0.9, 0.1], "seconds": [3.0, 4.0, 5.0, 6.0]},
                 None],  # a diverged seed
        "sgd": [{"val_rmse": [1.5, 1.4, 1.3], "seconds": [0.5, 1.0, 1.5]}],
    }  # fmt: skip
    fig = plot_seed_bands(runs)
    by_epoch, by_seconds = fig.axes
    adam = lines_by_label(by_epoch)["adam (2 seeds)"]
    # Cut to the shortest seed; the mean of (1.0, 1.2), (0.8, 1.0), (0.7, 0.9).
    assert np.allclose(adam.get_ydata(), [1.1, 0.9, 0.8])
    assert adam.get_xdata().tolist() == [1, 2, 3]
    seconds = lines_by_label(by_seconds)["adam (2 seeds)"]
    assert np.allclose(seconds.get_xdata(), [2.0, 3.0, 4.0])
    band = by_epoch.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.min(), 0.8 - 0.1) and np.isclose(band.max(), 1.1 + 0.1)
    assert "sgd (1 seed)" in lines_by_label(by_epoch)


def test_seed_bands_grid_is_metrics_by_x_axes():
    run = {"train_loss": [2.0, 1.0], "val_rmse": [1.0, 0.9], "seconds": [1.0, 2.0]}
    fig = plot_seed_bands({"a": [run]}, ("train_loss", "val_rmse"), ("seconds",))
    assert [ax.get_ylabel() for ax in fig.axes] == ["training loss", "validation RMSE"]
    assert {ax.get_xlabel() for ax in fig.axes} == {"training seconds"}


def test_sweep_draws_means_and_marks_settings_whose_every_seed_diverged():
    lost = [None, float("nan")]
    results = {"sgd": {0.1: [0.9, 1.1], 0.01: [1.2, 1.2], 0.3: [1.3, None], 1.0: lost}}
    fig = plot_sweep(results)
    (ax,) = fig.axes
    (sgd,) = ax.containers  # the error bars
    means = sgd.lines[0]
    assert sgd.get_label() == "sgd"
    assert means.get_xdata().tolist() == [0.01, 0.1, 0.3]
    assert np.allclose(means.get_ydata(), [1.2, 1.0, 1.3])  # 0.3: the seed left
    assert lines_by_label(ax)["sgd: diverged"].get_xdata().tolist() == [1.0]
    assert ax.get_xscale() == "log"


def test_bars_one_group_per_column_one_bar_per_row():
    table = {"mf": {"auc": 0.5, "ndcg": 0.0}, "hybrid": {"auc": 0.75, "ndcg": 0.3},
             "popularity": {"auc": 0.625}}  # fmt: skip
    fig = plot_bars(table, ylabel="score")
    (ax,) = fig.axes
    bars = ax.patches
    assert [float(b.get_height()) for b in bars] == [0.5, 0.0, 0.75, 0.3, 0.625]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["auc", "ndcg"]
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    assert centres[0] < centres[2] < centres[4] < 0.5 < centres[1] < centres[3]
    labels = [t.get_text() for t in ax.texts]
    assert "0.75" in labels and "0.625" in labels


def test_bars_into_a_given_panel(tmp_path):
    fig = plot_bars({"a": {"x": 1.0}})
    second = fig.add_subplot(1, 2, 2)
    same = plot_bars({"b": {"y": 2.0}}, ax=second, path=tmp_path / "two.png")
    assert same is fig and [float(b.get_height()) for b in second.patches] == [2.0]
    assert (tmp_path / "two.png").read_bytes()[:8] == PNG_MAGIC
