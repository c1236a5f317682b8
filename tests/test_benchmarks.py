"""Each benchmark script runs once on a tiny setting so none rots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quality_small_runs_as_a_module(tmp_path):
    """``python -m benchmarks.quality`` from the repository root, as the README
    says, with the tests' strict JAX settings; the command is recorded as typed."""
    argv = ["-m", "benchmarks.quality", "--small", "--out-dir", str(tmp_path)]
    env = {**os.environ, "JAX_NUMPY_RANK_PROMOTION": "raise",
           "JAX_DEBUG_KEY_REUSE": "true"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "quality.json").read_text())
    assert record["figures"]["synthetic"]["mean_rmse"] > 0
    assert record["versions"]["jax"] and record["device"]["platform"]
    command = "python " + " ".join(argv)
    assert record["command"] == command
    assert f"- command: `{command}`" in (tmp_path / "quality.md").read_text()
    assert (tmp_path / "quality.png").stat().st_size > 0  # drawn beside the results


def test_sgd_vs_adam_small(tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks import sgd_vs_adam

    assert sgd_vs_adam.main(["--small", "--out-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "sgd_vs_adam.json").read_text())
    assert record["figures"]["winner"] in ("adam", "sgd")
    for plot in ("epochs", "seconds", "sweep"):
        assert (tmp_path / f"sgd_vs_adam_{plot}.png").stat().st_size > 0


def test_throughput_small(tmp_path):
    from benchmarks import throughput

    assert throughput.main(["--small", "--out-dir", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("throughput_*.json")
    figures = json.loads(path.read_text())["figures"]
    assert figures["by_batch_size"]["1024"]["examples_per_second"] > 0
    assert figures["scoring_pairs_per_second"] > 0
    assert path.with_suffix(".png").stat().st_size > 0


def test_cpu_peak_estimate_from_cpuinfo():
    """cores x clock x (2 FMA pipes x 2 FLOP x float32 lanes of the widest unit)."""
    from benchmarks.throughput import cpu_peak

    def cpuinfo(flags, mhz="2500.000"):
        return f"processor\t: 0\ncpu MHz\t\t: {mhz}\nflags\t\t: fpu sse2 {flags}\n"

    avx2, note = cpu_peak(cpuinfo("avx avx2 fma"), cores=2)
    assert avx2 == 2 * 2.5e9 * 32
    assert "AVX2" in note
    assert cpu_peak(cpuinfo("avx2 fma avx512f"), cores=1)[0] == 2.5e9 * 64
    assert cpu_peak(cpuinfo("sse4_2"), cores=4)[0] == 4 * 2.5e9 * 16
    assert cpu_peak("no such fields", cores=2) is None


def test_quality_ncf_table_lists_every_variant_and_the_published_runs():
    from benchmarks.quality import PUBLISHED_NCF, ncf_table

    figures = {"sampled_hr@10": 0.5, "sampled_ndcg@10": 0.25,
               "full_hr@10": 0.125, "full_ndcg@10": 0.0625}  # fmt: skip
    table = ncf_table(
        {"best_variant": "mf", "variants": {"mf": figures, "gmf": figures}}
    )
    assert "| hybridrec_jax mf | 0.5000 | 0.2500 | 0.1250 | 0.0625 |" in table
    assert "| hybridrec_jax gmf |" in table
    for name, hr, ndcg, _ in PUBLISHED_NCF:
        assert f"| {name} (published) | {hr} | {ndcg} |" in table


def test_scale_small(tmp_path):
    """One size, row-sparse and dense, each in its own process; the table, the
    JSON figures and the plot are written (meshes: tests/test_multidevice.py)."""
    from benchmarks import scale

    argv = ["--small", "--sizes", "1e3", "--devices", "1", "--out-dir", str(tmp_path)]
    assert scale.main(argv) == 0
    record = json.loads((tmp_path / "scale_cpu.json").read_text())
    runs = record["figures"]["runs"]
    assert [(r["updates"], r["devices"]) for r in runs] == [
        ("row_sparse", 1),
        ("dense", 1),
    ]
    for run in runs:
        assert "error" not in run, run
        assert run["examples_per_second"] > 0 and run["peak_rss_gib"] > 0
        assert run["device"] == f"cpu x {run['devices']}"
    assert (
        "| hybridrec_jax | dense | 1 | 1,000 |"
        in (tmp_path / "scale_cpu.md").read_text()
    )
    assert (tmp_path / "scale_cpu.png").stat().st_size > 0
