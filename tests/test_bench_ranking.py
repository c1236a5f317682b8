"""benchmarks/ranking.py and benchmarks/cold_start.py run once on a tiny setting."""

from __future__ import annotations

import json


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

    assert cold_start.main(["--small", "--out-dir", str(tmp_path)]) == 0
    figures = json.loads((tmp_path / "cold_start.json").read_text())["figures"]
    assert set(figures["models"]) == {"popularity (features)", "mf", "hybrid"}
    # Pure MF has no information about an unseen item: chance level exactly.
    assert abs(figures["models"]["mf"]["auc"] - 0.5) < 1e-6
    assert (tmp_path / "cold_start.png").stat().st_size > 0
