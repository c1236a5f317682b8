"""benchmarks/ranking.py, cold_start.py and splits.py run once on a tiny setting."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_ranking_benchmark_small(tmp_path):
    from benchmarks import ranking

    argv = ["--small", "--out-dir", str(tmp_path), "--variants", "mf,hybrid_mlp_dot"]
    assert ranking.main(argv) == 0
    record = json.loads((tmp_path / "ranking.json").read_text())
    variants = record["figures"]["variants"]
    assert set(variants) == {"mf", "hybrid_mlp_dot"}
    for row in variants.values():
        for key in ("sampled_hr@10", "sampled_ndcg@10", "full_hr@10", "full_ndcg@10"):
            assert 0.0 <= row[key] <= 1.0
        # 21 candidates against ~250: the sampled protocol is the easier one.
        assert row["sampled_hr@10"] >= row["full_hr@10"]
    seconds = record["figures"]["evaluation_seconds"]
    assert "mf" in seconds
    for timing in seconds.values():
        assert timing["factorised"] > 0 and timing["plain"] > 0
    text = (tmp_path / "ranking.md").read_text()
    assert "sampled HR@10" in text and "full HR@10" in text
    assert (tmp_path / "ranking.png").stat().st_size > 0


def test_cold_start_benchmark_small(tmp_path):
    from benchmarks import cold_start

    out = ["--small", "--out-dir", str(tmp_path), "--seeds", "0,1"]
    assert cold_start.main(out) == 0
    figures = json.loads((tmp_path / "cold_start.json").read_text())["figures"]
    release = {f"{name} (+ release date)"
               for name in ("popularity", "hybrid", "hybrid + id dropout")}  # fmt: skip
    assert set(figures["models"]) == {"popularity (features)", "mf", "hybrid",
                                      "hybrid + id dropout"} | release  # fmt: skip
    # Pure MF has no information about an unseen item: chance level exactly.
    mf = figures["models"]["mf"]
    assert abs(mf["auc"] - 0.5) < 1e-6 and mf["auc_sd"] < 1e-6
    hybrid = figures["models"]["hybrid"]
    aucs = [r["auc"] for r in hybrid["per_seed"]]
    assert [r["seed"] for r in hybrid["per_seed"]] == [0, 1]
    assert hybrid["auc"] == pytest.approx(np.mean(aucs))
    assert hybrid["auc_sd"] == pytest.approx(np.std(aucs, ddof=1))
    assert "± " in (tmp_path / "cold_start.md").read_text()
    assert (tmp_path / "cold_start.png").stat().st_size > 0


def test_splits_benchmark_small(tmp_path):
    """benchmarks/splits.py: every split and model once; the content-only model
    and MF read no interaction column, and the table says who wins."""
    from benchmarks import splits

    assert splits.main(["--small", "--out-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "splits.json").read_text())
    table = record["figures"]["rmse"]
    assert set(table) == set(splits.SPLITS)
    for runs in table.values():
        assert len(runs) == 1 and set(runs[0]) == set(splits.MODELS)
        assert all(0.0 < value < 5.0 for value in runs[0].values())
    assert record["config"]["content_only"]["embedding_dim"] == 0
    assert "| cold-items |" in (tmp_path / "splits.md").read_text()


def test_without_interactions_drops_exactly_the_interaction_columns(tiny_split):
    from benchmarks.splits import without_interactions
    from hybridrec_jax.data import add_spectral_features

    train = tiny_split[0]
    (extended,) = add_spectral_features(train, (), dim=2)
    stripped = without_interactions(extended)
    np.testing.assert_array_equal(stripped.user_features, train.user_features)
    np.testing.assert_array_equal(stripped.item_features, train.item_features)
