"""The benchmarks' plots draw the numbers of their results files (read back from
the artists), are written beside them, and are committed for the README."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from benchmarks import plots as bench_plots  # noqa: E402
from benchmarks.common import RESULTS, write_figures  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def record(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def heights(ax) -> list[float]:
    return [float(bar.get_height()) for bar in ax.patches]


def test_cold_start_bars_are_the_results():
    rec = record("cold_start")
    (ax,) = bench_plots.PLOTS["cold_start"](rec)["cold_start.png"].axes
    models = rec["figures"]["models"]
    expected = [m[k] for m in models.values()
                for k in ("auc", "ndcg@10", "hr@10", "recall@10")]  # fmt: skip
    assert np.allclose(heights(ax), expected)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(models)


def test_quality_marks_our_rmse_among_the_published():
    rec = record("quality")
    fig = bench_plots.PLOTS["quality"](rec)["quality.png"]
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["ML-100K u1", "ML-100K u1..u5, mean ± sd",
                      "ML-1M random 90/10, mean ± sd"]  # fmt: skip
    folds = fig.axes[1]
    labels = [t.get_text() for t in folds.get_yticklabels()]
    x = folds.collections[-1].get_offsets()[:, 0]  # the points, in label order
    assert np.isclose(x[labels.index("hybridrec_jax")],
                      rec["figures"]["ml-100k folds"]["mean_rmse"])  # fmt: skip
    assert np.isclose(x[labels.index("Surprise SVD")], 0.934)
    assert list(x) == sorted(x)  # best on top


def test_ranking_bars_and_timings_are_the_results():
    rec = record("ranking")
    quality_ax, timing_ax = bench_plots.PLOTS["ranking"](rec)["ranking.png"].axes
    drawn = heights(quality_ax)
    for row in rec["figures"]["variants"].values():
        assert row["sampled_hr@10"] in drawn and row["full_ndcg@10"] in drawn
    for run in rec["figures"]["published_sampled"]:
        assert run["hr@10"] in drawn
    mf = rec["figures"]["evaluation_seconds"]["mf"]
    assert heights(timing_ax) == [mf["factorised"], mf["plain"]]


def test_sgd_vs_adam_bands_follow_the_winning_settings():
    rec = record("sgd_vs_adam")
    figures = bench_plots.PLOTS["sgd_vs_adam"](rec)
    assert set(figures) == {"sgd_vs_adam_epochs.png", "sgd_vs_adam_seconds.png",
                            "sgd_vs_adam_sweep.png"}  # fmt: skip
    loss_ax, rmse_ax = figures["sgd_vs_adam_epochs.png"].axes
    lines = {line.get_label(): line for line in rmse_ax.get_lines()}
    assert set(lines) == {"adam lr=0.002 (3 seeds)",
                          "sgd lr=0.1 momentum=0.9 (3 seeds)"}  # fmt: skip
    curves = rec["figures"]["curves"]["adam learning_rate=0.002"]
    mean = np.mean([c["val_rmse"] for c in curves], axis=0)
    assert np.allclose(lines["adam lr=0.002 (3 seeds)"].get_ydata(), mean)
    (sweep_ax,) = figures["sgd_vs_adam_sweep.png"].axes
    marks = {line.get_label(): line for line in sweep_ax.get_lines()}
    # Every seed of plain SGD at learning rate 1 diverged.
    assert marks["sgd momentum=0.0: diverged"].get_xdata().tolist() == [1.0]


def test_throughput_lines_are_the_results():
    rec = record("throughput_cpu")
    fig = bench_plots.PLOTS["throughput"](rec)["throughput_cpu.png"]
    batch_ax, dim_ax, hidden_ax = fig.axes
    (line,) = batch_ax.get_lines()
    by_batch = rec["figures"]["by_batch_size"]
    assert line.get_xdata().tolist() == sorted(int(b) for b in by_batch)
    rates = [by_batch[str(b)]["examples_per_second"] for b in line.get_xdata()]
    assert np.allclose(line.get_ydata(), rates)
    # Each point is annotated with its share of the device's peak FLOP/s.
    peak = rec["figures"]["device_peak_flops"]
    shares = [f"{by_batch[str(b)]['flops_per_second'] / peak:.0%}"
              for b in line.get_xdata()]  # fmt: skip
    assert [t.get_text() for t in batch_ax.texts] == shares
    assert np.allclose(
        heights(hidden_ax), list(rec["figures"]["by_hidden_dims"].values())
    )


@pytest.mark.parametrize("name", ["topk_support", "topk_support_ranking"])
def test_topk_support_lines_are_the_results(name):
    """One line per minimum support m through (beta, figure), then the dashed
    popularity line, on both panels."""
    rec = record(name)
    ndcg_ax, coverage_ax = bench_plots.PLOTS[name](rec)[f"{name}.png"].axes
    grid = rec["figures"]["grid"]
    for ax, key in ((ndcg_ax, "ndcg@10"), (coverage_ax, "coverage@10")):
        *lines, popular = ax.get_lines()
        assert [line.get_label() for line in lines] == [
            f"m = {m}" for m in rec["config"]["min_supports"]
        ]
        for m, line in zip(rec["config"]["min_supports"], lines, strict=True):
            rows = sorted((r["shrinkage"], r[key]) for r in grid.values()
                          if r["min_support"] == m)  # fmt: skip
            assert line.get_xdata().tolist() == [b for b, _ in rows]
            assert np.allclose(line.get_ydata(), [v for _, v in rows])
        assert popular.get_ydata()[0] == rec["figures"]["popularity"][key]


def test_every_plotted_result_has_its_png_committed():
    """The README shows these files: each results file's plots are on disk."""
    results = [p for p in sorted(RESULTS.glob("*.json")) if bench_plots.plots_for(p)]
    assert {p.stem for p in results} >= {"cold_start", "quality", "ranking",
                                         "sgd_vs_adam", "throughput_cpu",
                                         "topk_support"}  # fmt: skip
    for path in results:
        for name in bench_plots.plots_for(path)(json.loads(path.read_text())):
            assert (RESULTS / name).read_bytes()[:8] == PNG_MAGIC, name


def test_plots_are_written_beside_the_results_file(tmp_path, capsys):
    shutil.copy(RESULTS / "cold_start.json", tmp_path)
    assert bench_plots.main([str(tmp_path / "cold_start.json")]) == 0
    assert (tmp_path / "cold_start.png").read_bytes()[:8] == PNG_MAGIC
    assert f"plot: {tmp_path / 'cold_start.png'}" in capsys.readouterr().out


def test_no_matplotlib_skips_the_plots_with_one_line(tmp_path, monkeypatch, capsys):
    shutil.copy(RESULTS / "cold_start.json", tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises
    assert write_figures(bench_plots.PLOTS["cold_start"],
                         tmp_path / "cold_start.json") == []  # fmt: skip
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "plots skipped" in out and "[plot]" in out
    assert not list(tmp_path.glob("*.png"))


def test_a_results_file_without_plots_is_refused(capsys):
    assert bench_plots.main([str(RESULTS / "data_prep.json")]) == 2
    assert "no plots" in capsys.readouterr().err
