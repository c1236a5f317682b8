"""Redraw the benchmarks' plots from their results files, without running them.

    python -m benchmarks.plots                                  # every results file
    python -m benchmarks.plots benchmarks/results/quality.json  # one

Each benchmark draws its plots from the ``<name>.json`` it writes (its
``plots(record)``) and saves them as PNG files beside it; this script does the
same for results already on disk, e.g. after a plot changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import (
    cold_start,
    quality,
    ranking,
    scale,
    sgd_vs_adam,
    throughput,
    topk_support,
)
from benchmarks.common import RESULTS, write_figures

PLOTS = {
    "cold_start": cold_start.plots,
    "quality": quality.plots,
    "ranking": ranking.plots,
    "sgd_vs_adam": sgd_vs_adam.plots,
    "throughput": throughput.plots,  # throughput_<platform>.json
    "scale": scale.plots,  # scale_<platform>.json
    "topk_support": topk_support.plots,
    "topk_support_ranking": topk_support.plots,  # --task ranking
}


def plots_for(json_path: Path):
    """The ``plots`` function of the benchmark that wrote ``json_path``, or None."""
    stem = Path(json_path).stem
    for prefix in ("throughput", "scale"):  # one file per platform
        if stem.startswith(prefix + "_"):
            return PLOTS[prefix]
    return PLOTS.get(stem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.plots", description=__doc__.splitlines()[0]
    )
    parser.add_argument("results", nargs="*", type=Path,
                        help=f"results files (default: every {RESULTS.name}/*.json "
                        "that a benchmark with plots wrote)")  # fmt: skip
    args = parser.parse_args(argv)
    paths = args.results or sorted(p for p in RESULTS.glob("*.json") if plots_for(p))
    for path in paths:
        plots = plots_for(path)
        if plots is None:
            print(f"{path}: no plots for this benchmark", file=sys.stderr)
            return 2
        write_figures(plots, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
