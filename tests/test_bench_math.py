"""``python -m benchmarks.math_vs_autodiff --small`` runs and writes its results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_math_vs_autodiff_small(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.math_vs_autodiff", "--small",
         "--out-dir", str(tmp_path)],
        cwd=REPO, timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ratio hand/jax.grad" in run.stdout
    record = json.loads((tmp_path / "math_vs_autodiff.json").read_text())
    for figures in record["figures"].values():
        assert figures["ratio_hand_over_autodiff"] > 0
        # Both steps compute the same update (float32).
        assert figures["max_param_difference_after_one_step"] < 1e-5
    assert "hand / jax.grad" in (tmp_path / "math_vs_autodiff.md").read_text()
