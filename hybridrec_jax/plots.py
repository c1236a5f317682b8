"""Figures of a run, drawn with matplotlib (the optional ``plot`` extra).

The CLI (``hybridrec train --plot PATH``), the notebooks and the benchmarks
call the same :func:`plot_history`, so a figure looks the same wherever it is
drawn. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

MISSING_MATPLOTLIB = (
    "plotting needs matplotlib: pip install 'hybridrec_jax[plot]' (or drop --plot)"
)


def require_matplotlib() -> None:
    """Raise ``ImportError`` with a one-line fix unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(MISSING_MATPLOTLIB) from None


def plot_history(history: list[dict], path: str | Path | None = None):
    """Training curves: train loss and the validation figures per epoch.

    Args:
        history: one record per epoch, as ``FitResult.history`` or the
            report's ``"history"``: "epoch", "train_loss" and any "val_<name>".
        path: where to write the figure (the suffix picks the format, e.g.
            ``.png``); None: only return it (a notebook shows it).

    Returns:
        The matplotlib Figure, two panels: train loss | validation metrics.

    Raises:
        ImportError: matplotlib is not installed; the message says how to fix it.

    >>> history = [{"epoch": 1, "train_loss": 1.2, "val_rmse": 1.1},
    ...            {"epoch": 2, "train_loss": 0.9, "val_rmse": 1.0}]
    >>> len(plot_history(history).axes)
    2
    """
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend needed

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    loss_ax, val_ax = fig.subplots(1, 2)
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
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig
