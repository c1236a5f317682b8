"""Figures of runs and results, drawn with matplotlib (the optional ``plot`` extra).

The CLI (``hybridrec train --plot PATH``), the notebooks and the benchmarks
call the same functions, so a figure looks the same wherever it is drawn. Each
returns a matplotlib ``Figure`` (a notebook shows it) and writes it when given
a ``path``. Figures are built without pyplot, so no GUI backend is needed, and
matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

MISSING_MATPLOTLIB = (
    "plotting needs matplotlib: pip install 'hybridrec_jax[plot]' (or drop --plot)"
)
DPI = 100  # written figures: sharp enough on a page, small enough to commit
LABELS = {"train_loss": "training loss", "val_rmse": "validation RMSE",
          "val_mae": "validation MAE"}  # fmt: skip


def require_matplotlib() -> None:
    """Raise ``ImportError`` with a one-line fix unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(MISSING_MATPLOTLIB) from None


def new_figure(
    ncols: int = 1,
    nrows: int = 1,
    size: tuple[float, float] = (9, 3.5),
    width_ratios: list[float] | None = None,
):
    """(Figure, axes as a flat list): a constrained-layout grid, no pyplot."""
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, width_ratios=width_ratios)
    return fig, list(axes.flat)


def save_figure(fig, path: str | Path | None):
    """Write ``fig`` to ``path`` (the suffix picks the format) unless None."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    return fig


def plot_history(history: list[dict], path: str | Path | None = None):
    """Training curves: train loss and the validation figures per epoch.

    Args:
        history: one record per epoch, as ``FitResult.history`` or the
            report's ``"history"``: "epoch", "train_loss" and any "val_<name>".
        path: where to write the figure; None: only return it.

    Returns:
        The Figure, two panels: train loss | validation metrics.

    Raises:
        ImportError: matplotlib is not installed; the message says how to fix it.

    >>> history = [{"epoch": 1, "train_loss": 1.2, "val_rmse": 1.1},
    ...            {"epoch": 2, "train_loss": 0.9, "val_rmse": 1.0}]
    >>> len(plot_history(history).axes)
    2
    """
    fig, (loss_ax, val_ax) = new_figure(2)
    epochs = [h["epoch"] for h in history]
    loss_ax.plot(epochs, [h["train_loss"] for h in history], marker="o")
    loss_ax.set(xlabel="epoch", ylabel="train loss", title="training")
    counts = ("val_n_users",)  # a count, not a metric
    names = sorted({k for h in history for k in h
                    if k.startswith("val_") and k not in counts})  # fmt: skip
    for name in names:
        rows = [(h["epoch"], h[name]) for h in history if name in h]
        val_ax.plot(*zip(*rows, strict=True), marker="o", label=name[4:])
    val_ax.set(xlabel="epoch", ylabel="validation metric", title="validation")
    if names:
        val_ax.legend()
    else:
        val_ax.text(0.5, 0.5, "no validation", ha="center", va="center",
                    transform=val_ax.transAxes)  # fmt: skip
    return save_figure(fig, path)


def plot_predictions(y_true, y_pred, path: str | Path | None = None):
    """Predicted against true ratings, and the distribution of the errors.

    Left: where y takes at most 20 values (a rating scale), a box plot of
    y_hat for each y (quartiles, whiskers at 1.5 IQR) with the mean y_hat of
    each y; otherwise a hexagonal histogram of the pairs (y, y_hat); the
    diagonal y_hat = y on both. Right: a histogram of y_hat - y, titled with
    the RMSE.

    Args:
        y_true: (N,) true ratings y.
        y_pred: (N,) predictions y_hat.
        path: where to write the figure; None: only return it.

    >>> fig = plot_predictions([1, 2, 3, 4, 5], [1, 2, 3, 4, 7])  # sqrt(2**2 / 5)
    >>> fig.axes[1].get_title()
    'RMSE 0.8944'
    """
    y, y_hat = np.asarray(y_true, float), np.asarray(y_pred, float)
    fig, (pairs_ax, error_ax) = new_figure(2)
    low, high = min(y.min(), y_hat.min()), max(y.max(), y_hat.max())
    pairs_ax.plot([low, high], [low, high], color="black", lw=1, label="y_hat = y")
    values = np.unique(y)
    if len(values) <= 20:
        groups = [y_hat[y == v] for v in values]
        width = 0.5 * (np.min(np.diff(values)) if len(values) > 1 else 1.0)
        pairs_ax.boxplot(groups, positions=values, widths=width, showfliers=False,
                         manage_ticks=False)  # fmt: skip
        means = [g.mean() for g in groups]
        pairs_ax.plot(values, means, "o-", color="tab:red", label="mean y_hat")
    else:
        pairs_ax.hexbin(y, y_hat, gridsize=25, mincnt=1, cmap="viridis")
    pairs_ax.set(xlabel="true rating y", ylabel="predicted y_hat",
                 title=f"{len(y)} pairs")  # fmt: skip
    pairs_ax.legend(loc="best")
    error = y_hat - y
    error_ax.hist(error, bins=40, color="tab:blue")
    error_ax.axvline(0.0, color="black", lw=1)
    error_ax.set(xlabel="y_hat - y", ylabel="pairs",
                 title=f"RMSE {math.sqrt(np.mean(error**2)):.4f}")  # fmt: skip
    return save_figure(fig, path)


def run_curves(history: list[dict]) -> dict[str, list[float]]:
    """One run's history as columns, with seconds counted from the start.

    The first epoch's seconds include the compile, so it is counted at the
    mean of the other epochs: "seconds" is then the training time to the end of
    each epoch as a warm run would spend it.

    Args:
        history: ``FitResult.history``: one record per epoch.

    Returns:
        {key: one value per epoch} for every key of the records, "seconds"
        cumulative.

    >>> run_curves([{"epoch": 1, "seconds": 9.0}, {"epoch": 2, "seconds": 1.0},
    ...             {"epoch": 3, "seconds": 3.0}])["seconds"]
    [2.0, 3.0, 6.0]
    """
    keys = [k for k in history[0] if all(k in h for h in history)]
    curves = {k: [float(h[k]) for h in history] for k in keys}
    if "seconds" in curves:
        seconds = curves["seconds"]
        steady = float(np.mean(seconds[1:])) if len(seconds) > 1 else seconds[0]
        curves["seconds"] = np.cumsum([steady, *seconds[1:]]).tolist()
    return curves


def plot_seed_bands(
    runs: dict[str, list[dict | None]],
    metrics: tuple[str, ...] = ("val_rmse",),
    xs: tuple[str, ...] = ("epoch", "seconds"),
    path: str | Path | None = None,
):
    """Mean and one standard deviation over seeds, one line and band per setting.

    Args:
        runs: {setting: one :func:`run_curves` per seed}; None (a seed that
            diverged) is left out. Seeds are cut to the shortest run.
        metrics: the y of each row of panels.
        xs: the x of each column: "epoch", or "seconds" (the mean over seeds of
            the training seconds to the end of each epoch).
        path: where to write the figure; None: only return it.

    Returns:
        The Figure: len(metrics) x len(xs) panels.

    >>> run = {"val_rmse": [1.0, 0.9], "seconds": [0.5, 1.0]}
    >>> fig = plot_seed_bands({"adam": [run, run]})
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['epoch', 'training seconds']
    """
    fig, axes = new_figure(len(xs), len(metrics), (4.5 * len(xs), 3.5 * len(metrics)))
    for row, metric in enumerate(metrics):
        for col, x_name in enumerate(xs):
            ax = axes[row * len(xs) + col]
            for name, curves in runs.items():
                kept = [c for c in curves if c is not None]
                if not kept:
                    continue
                n = min(len(c[metric]) for c in kept)
                values = np.array([c[metric][:n] for c in kept])  # (seeds, epochs)
                x = (np.arange(1, n + 1) if x_name == "epoch"
                     else np.mean([c[x_name][:n] for c in kept], axis=0))  # fmt: skip
                mean, spread = values.mean(0), values.std(0)
                seeds = f"{len(kept)} seed" + "s" * (len(kept) > 1)
                ax.plot(x, mean, marker=".", label=f"{name} ({seeds})")
                ax.fill_between(x, mean - spread, mean + spread, alpha=0.25)
            xlabel = "epoch" if x_name == "epoch" else f"training {x_name}"
            ax.set(xlabel=xlabel, ylabel=LABELS.get(metric, metric))
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_sweep(
    results: dict[str, dict[float, list[float | None]]],
    xlabel: str = "learning rate",
    ylabel: str = "best validation RMSE",
    path: str | Path | None = None,
):
    """A hyper-parameter sweep: mean and standard deviation over seeds, log x.

    Args:
        results: {setting: {x: one value per seed}}; a seed that diverged is
            None or not finite and left out; an x whose every seed diverged
            is marked with a cross near the top of the panel.
        xlabel, ylabel: the axis labels.
        path: where to write the figure; None: only return it.

    >>> fig = plot_sweep({"adam": {1e-3: [0.9, 0.92], 1e-2: [0.95, None]}})
    >>> fig.axes[0].get_xscale()
    'log'
    """
    fig, (ax,) = new_figure(size=(5.5, 3.5))
    for name, points in results.items():
        rows, lost = [], []
        for x in sorted(points):
            ok = [v for v in points[x] if v is not None and np.isfinite(v)]
            if ok:
                rows.append((x, np.mean(ok), np.std(ok)))
            else:
                lost.append(x)
        line = None
        if rows:
            x, mean, spread = (np.array(c) for c in zip(*rows, strict=True))
            line = ax.errorbar(x, mean, yerr=spread, marker="o", capsize=3,
                               label=name)  # fmt: skip
        if lost:
            color = line[0].get_color() if line else None
            ax.plot(lost, [0.96] * len(lost), "x", color=color,
                    transform=ax.get_xaxis_transform(),
                    label=f"{name}: diverged")  # fmt: skip
    xs = [x for points in results.values() for x in points]
    ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel)
    if xs:  # room for the markers at either end (diverged ones are not data)
        ax.set_xlim(min(xs) / 1.5, max(xs) * 1.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_bars(
    table: dict[str, dict[str, float]],
    *,
    ax=None,
    ylabel: str = "",
    title: str = "",
    labels: bool = True,
    path: str | Path | None = None,
):
    """Grouped bars: one group per column, one bar per row, each labelled.

    Args:
        table: {row (e.g. a model): {column (e.g. a metric): value}}; a
            missing value draws no bar.
        ax: draw into this Axes (several tables in one figure); None: a new
            figure.
        ylabel, title: the panel's labels.
        labels: write each bar's value above it.
        path: where to write the figure; None: only return it.

    Returns:
        The Figure holding the panel.

    >>> fig = plot_bars({"mf": {"auc": 0.5}, "hybrid": {"auc": 0.75}})
    >>> [float(bar.get_height()) for bar in fig.axes[0].patches]
    [0.5, 0.75]
    """
    if ax is None:
        _, (ax,) = new_figure(size=(max(4.0, 1.2 * len(table) + 3.0), 3.5))
    columns = list(dict.fromkeys(c for row in table.values() for c in row))
    width = 0.8 / max(len(table), 1)
    for k, (name, row) in enumerate(table.items()):
        at = [j for j, c in enumerate(columns) if row.get(c) is not None]
        x = np.array(at) + (k - (len(table) - 1) / 2) * width
        bars = ax.bar(x, [row[columns[j]] for j in at], width, label=name)
        if labels:
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
    ax.set_xticks(range(len(columns)), columns)
    ax.set(ylabel=ylabel, title=title)
    ax.margins(y=0.12)
    ax.legend(fontsize=8)
    return save_figure(ax.figure, path)
