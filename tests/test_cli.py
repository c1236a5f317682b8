"""The `hybridrec` command end to end, on small settings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hybridrec_jax.cli import main

# --no-refit: the refit is tested in test_refit.py; here it would double the time.
TINY_FLAGS = ["--epochs", "2", "--embedding-dim", "4", "--hidden-dims", "8",
              "--dot-dim", "4", "--batch-size", "512", "--no-progress",
              "--no-refit"]  # fmt: skip


def test_default_train_beats_both_baselines(tmp_path, capsys):
    """`hybridrec train` with no model flags: the offline main job."""
    out = tmp_path / "report.json"
    assert main(["train", "--no-progress", "--output-json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hybrid model" in printed and "baseline: biases" in printed
    assert "examples/s" in printed and "device" in printed
    report = json.loads(out.read_text())
    for key in ("test_rmse", "test_mae", "train_seconds", "examples_per_second",
                "device", "baselines"):  # fmt: skip
        assert key in report
    assert set(report["baselines"]) == {"global_mean", "biases"}
    for baseline in report["baselines"].values():
        assert report["test_rmse"] < baseline["test_rmse"]
    assert report["n_test"] == 20_000 and report["dataset"] == "synthetic"


def test_train_ml100k_u1(tmp_path, ml100k_dir):
    out = tmp_path / "r.json"
    args = ["train", "--dataset", "ml-100k", "--data-dir", str(ml100k_dir),
            "--split", "u1", "--output-json", str(out), *TINY_FLAGS]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["n_test"] == 20_000 and report["n_train"] == 80_000
    assert report["train_config"]["epochs"] == 2
    assert report["model_config"]["hidden_dims"] == [8]


def test_bad_flags_give_clear_errors(capsys, tmp_path):
    assert main(["train", "--dataset", "ml-100k", "--data-dir", str(tmp_path),
                 "--no-progress"]) == 2  # fmt: skip
    assert "file not found" in capsys.readouterr().err
    assert main(["train", "--learning-rate", "-1", "--no-progress"]) == 2
    assert "learning_rate must be > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--optimizer-typo", "adam"])


def test_train_save_and_recommend(tmp_path, capsys):
    """`train --save-model`, then every `recommend` mode on the saved folder."""
    model = tmp_path / "model"
    args = ["train", "--no-progress", "--epochs", "1", "--embedding-dim", "2",
            "--hidden-dims", "4", "--dot-dim", "2", "--interaction-dim", "2",
            "--save-model", str(model)]  # fmt: skip
    assert main(args) == 0 and (model / "checkpoint.json").is_file()
    capsys.readouterr()
    recommend = ["recommend", "--model", str(model)]
    assert main([*recommend, "--user", "1", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "title" in out and out.count("Synthetic item") == 3
    new_user = ["--new-user", "age=25,gender=F,occupation=student"]
    assert main([*recommend, *new_user, "-k", "2"]) == 0
    assert capsys.readouterr().out.count("Synthetic item") == 2
    assert main([*recommend, "--similar-items", "1"]) == 0
    assert capsys.readouterr().out.count("Synthetic item") == 10
    csv = tmp_path / "top.csv"
    assert main([*recommend, "--all-users", "--output", str(csv), "-k", "2"]) == 0
    table = pd.read_csv(csv)
    assert list(table.columns) == ["user_id", "rank", "item_id", "title", "score"]
    assert len(table) == 2 * table["user_id"].nunique()
    assert main([*recommend, "--user", "nobody"]) == 2
    assert "unknown user id 'nobody'" in capsys.readouterr().err
    assert main([*recommend, "--all-users"]) == 2
    assert "--output" in capsys.readouterr().err
    assert main(["recommend", "--model", str(tmp_path), "--user", "1"]) == 2
    assert "not a checkpoint" in capsys.readouterr().err


def test_train_refuses_bce_and_negatives_on_ratings(capsys):
    """`--loss bce` on 1..5 ratings once trained on the raw ratings (RMSE 1.59);
    it is refused before any data is read, with what to use instead."""
    assert main(["train", "--loss", "bce"]) == 2
    err = capsys.readouterr().err
    assert "loss='mse'" in err and "give --task ranking" in err
    assert main(["train", "--negatives", "4"]) == 2  # negatives with the MSE
    assert "loss='bce'" in capsys.readouterr().err
    assert main(["train", "--loss", "bce", "--negatives", "4"]) == 2
    assert "drop --loss and --negatives" in capsys.readouterr().err
    assert main(["train", "--loss", "bce", "--negatives", "4",
                 "--metric", "ndcg@x"]) == 2  # fmt: skip
    assert "'ndcg@K'" in capsys.readouterr().err


def test_train_plot_writes_png(tmp_path, capsys):
    """`train --plot PATH`: the training curves as a PNG, in a new folder."""
    png = tmp_path / "figures" / "curves.png"
    args = ["train", "--no-progress", "--epochs", "2", "--embedding-dim", "2",
            "--hidden-dims", "4", "--interaction-dim", "2",
            "--plot", str(png)]  # fmt: skip
    assert main(args) == 0
    assert f"training curves written to {png}" in capsys.readouterr().out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_train_plot_path_checked_before_training(tmp_path, capsys):
    """An unwritable --plot (a folder) is refused before any training."""
    assert main(["train", "--no-progress", "--plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--plot" in err and "give a file" in err


def test_train_plot_without_matplotlib_one_line(monkeypatch, capsys):
    """Without matplotlib, --plot fails at once with how to install it."""
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises
    assert main(["train", "--no-progress", "--plot", "curves.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hybridrec_jax[plot]" in err


def test_recommend_messages_instead_of_empty_tables(tmp_path, capsys, monkeypatch):
    """-k 0 and an empty result print a sentence; an unknown item id is not
    told to try --new-user (which is for users)."""
    from hybridrec_jax.serve import recommend as recommend_module

    model = tmp_path / "model"
    assert main(["train", "--no-progress", "--epochs", "1", "--embedding-dim", "2",
                 "--hidden-dims", "4", "--interaction-dim", "2",
                 "--save-model", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    recommend = ["recommend", "--model", str(model)]
    for target in (["--user", "1"], ["--similar-items", "1"],
                   ["--new-user", "age=25,gender=F,occupation=student"]):  # fmt: skip
        assert main([*recommend, *target, "-k", "0"]) == 0
        out = capsys.readouterr().out
        assert "-k 0 asks for no recommendations" in out and "Empty" not in out
    real = recommend_module.recommend_user
    monkeypatch.setattr(recommend_module, "recommend_user",
                        lambda *a, **kw: real(*a, **kw).iloc[:0])  # fmt: skip
    assert main([*recommend, "--user", "1"]) == 0
    assert capsys.readouterr().out == "no recommendations: user 1 has seen every item\n"
    assert main([*recommend, "--similar-items", "NOPE"]) == 2
    err = capsys.readouterr().err
    assert "unknown item id 'NOPE'" in err and "--new-user" not in err
    assert main([*recommend, "--user", "NOPE"]) == 2
    assert "--new-user" in capsys.readouterr().err  # still right for a user


def test_missing_data_dir_suggests_a_download_that_works(capsys, monkeypatch):
    """The suggested `data download` carries the --sha256 it requires."""
    monkeypatch.delenv("HYBRIDREC_DATA", raising=False)
    assert main(["train", "--dataset", "ml-1m", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "needs --data-dir" in err
    assert "hybridrec data download ml-1m --sha256 HEX" in err


def test_distributed_flags_join_and_only_process_0_writes(
    tmp_path, capsys, monkeypatch
):
    """--coordinator-address/--num-processes/--process-id reach
    jax.distributed.initialize; a process other than 0 trains but writes
    neither the report nor the model (process 0 does)."""
    import jax

    joined = []
    monkeypatch.setattr(jax.distributed, "initialize",
                        lambda **kwargs: joined.append(kwargs))  # fmt: skip
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    out, model = tmp_path / "report.json", tmp_path / "model"
    flags = ["train", *TINY_FLAGS, "--epochs", "1", "--output-json", str(out),
             "--save-model", str(model), "--coordinator-address", "127.0.0.1:1234",
             "--num-processes", "2", "--process-id", "1"]  # fmt: skip
    assert main(flags) == 0
    assert joined == [{"coordinator_address": "127.0.0.1:1234",
                       "num_processes": 2, "process_id": 1}]  # fmt: skip
    assert "process 1 of 2" in capsys.readouterr().out
    assert not out.exists() and not model.exists()
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    assert main([*flags[:-1], "0"]) == 0
    assert out.exists() and model.exists()


# ---- the ranking task ---------------------------------------------------------


def _positives_table(path, n_users=40, n_items=150, per_user=25, seed=0):
    """A table of (user, item) positives without a rating column; item j is
    drawn with probability ~ 1 / (j + 5), so popularity carries signal."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(n_items) + 5.0)
    rows = [(f"u{u}", f"i{j}") for u in range(n_users)
            for j in rng.choice(n_items, per_user, replace=False,
                                p=weights / weights.sum())]  # fmt: skip
    pd.DataFrame(rows, columns=["user", "item"]).to_csv(path, index=False)
    return path


def _slow_popularity(data, k=10):
    """HR@k and AUC of s_i = n_i written the obvious way: a loop per user."""
    pop = np.bincount(data.train_positives.item, minlength=data.train.n_items)
    hits, aucs = [], []
    for u in np.unique(data.test_positives.user):
        seen = set(data.train.item[data.train.user == u].tolist())
        test = data.test_positives
        relevant = set(test.item[test.user == u].tolist())
        candidates = [j for j in range(data.train.n_items) if j not in seen]
        rank = {i: sum(pop[j] >= pop[i] for j in candidates) for i in relevant}
        hits.append(any(r <= k for r in rank.values()))
        negatives = [j for j in candidates if j not in relevant]
        pairs = [(pop[i] > pop[j]) + 0.5 * (pop[i] == pop[j])
                 for i in relevant for j in negatives]  # fmt: skip
        aucs.append(np.mean(pairs))
    return np.mean(hits), np.mean(aucs)


RANK_FLAGS = ["--epochs", "2", "--embedding-dim", "4", "--hidden-dims", "8",
              "--dot-dim", "4", "--interaction-dim", "2", "--batch-size", "256",
              "--no-progress", "--no-refit"]  # fmt: skip


def test_train_ranking_on_a_table_without_ratings(tmp_path, capsys):
    """`--task ranking` on positives alone: the full-catalogue table beside
    popularity and MF, and the sampled protocol; popularity's figures equal a
    loop written in the test over the same split."""
    from hybridrec_jax.data import CSVOptions
    from hybridrec_jax.ranking_experiment import prepare_ranking

    table = _positives_table(tmp_path / "clicks.csv")
    out = tmp_path / "r.json"
    args = ["train", "--task", "ranking", "--dataset", "csv", "--ratings-file",
            str(table), "--sampled", "--ks", "5,10", "--output-json", str(out),
            "--save-model", str(tmp_path / "model"), *RANK_FLAGS]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert main(["recommend", "--model", str(tmp_path / "model"), "--user", "u0",
                 "-k", "3"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()  # a heading, three items
    assert [line.split()[0] for line in lines] == ["rank", "1", "2", "3"]
    for word in (
        "HR@10",
        "NDCG@10",
        "Recall@10",
        "MAP@10",
        "HR@5",
        "AUC",
        "baseline: popularity",
        "baseline: MF",
        "sampled (NCF protocol",
    ):
        assert word in printed  # fmt: skip
    report = json.loads(out.read_text())
    assert report["task"] == "ranking" and report["ks"] == [5, 10]
    assert report["train_config"]["loss"] == "bce"
    assert report["train_config"]["negatives"] == 4  # TrainConfig.ranking()
    assert report["n_train"] + report["n_test"] == 40 * 25
    for figures in (report["test"], *report["baselines"].values()):
        for name in ("hr@10", "ndcg@10", "recall@10", "map@10", "auc", "hr@5"):
            assert 0.0 <= figures[name] <= 1.0
    assert set(report["sampled"]) == {"model", "popularity", "mf"}
    assert report["sampled"]["mf"]["sampled_n_users"] == report["n_test"]
    data = prepare_ranking("csv", split="random", csv=CSVOptions(ratings=str(table)))
    hr, auc = _slow_popularity(data)
    popularity = report["baselines"]["popularity"]
    assert popularity["hr@10"] == pytest.approx(hr, abs=1e-6)
    assert popularity["auc"] == pytest.approx(auc, abs=1e-6)
    assert 0.55 < auc  # the skew is there to be found


def test_rating_task_refuses_a_table_without_ratings(tmp_path, capsys):
    table = _positives_table(tmp_path / "clicks.csv", n_users=5, per_user=4)
    args = ["train", "--dataset", "csv", "--ratings-file", str(table), *RANK_FLAGS]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no ratings" in err and "--task ranking" in err


def test_ranking_task_refuses_mse_zero_negatives_and_stray_flags(capsys):
    for flags, says in ((["--loss", "mse"], "loss='bce'"),
                        (["--negatives", "0"], "--negatives 1 or more"),
                        (["--ks", "0"], "--ks needs cut-offs K >= 1")):  # fmt: skip
        assert main(["train", "--task", "ranking", *flags, "--no-progress"]) == 2
        assert says in capsys.readouterr().err
    assert main(["train", "--sampled", "--no-progress"]) == 2
    assert "--sampled belongs to --task ranking" in capsys.readouterr().err
    assert main(["train", "--task", "ranking", "--dataset", "ml-100k", "--split",
                 "u1", "--data-dir", "nowhere", "--no-progress"]) == 2  # fmt: skip
    assert "nowhere" in capsys.readouterr().err


def test_train_ranking_threshold_on_ml100k(tmp_path, ml100k_dir):
    """--threshold 4 on u1: the positives are the ratings >= 4 of u1.base and
    u1.test, counted here from the files."""
    out = tmp_path / "r.json"
    args = ["train", "--task", "ranking", "--dataset", "ml-100k", "--data-dir",
            str(ml100k_dir), "--split", "u1", "--threshold", "4", "--epochs", "1",
            "--output-json", str(out), *RANK_FLAGS[2:]]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    names = ["user", "item", "rating", "time"]
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=names)
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", names=names)
    assert report["n_train"] == int((base["rating"] >= 4).sum())
    assert report["n_test"] == int((test["rating"] >= 4).sum())
    assert report["test"]["n_users"] == test.loc[test["rating"] >= 4, "user"].nunique()
    assert report["threshold"] == 4.0


def test_train_ranking_on_the_ncf_files(tmp_path, capsys):
    """ncf-ml-1m: its own test split and, with --sampled, its own negatives."""
    from pathlib import Path

    fixtures = tmp_path / "fixtures"
    for folder in ("ncf", "ml1m"):  # real file names: the .fixture suffix dropped
        for path in (Path(__file__).parent / "fixtures" / folder).iterdir():
            target = fixtures / folder / path.name.removesuffix(".fixture")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    args = ["train", "--task", "ranking", "--dataset", "ncf-ml-1m", "--data-dir",
            str(fixtures / "ncf"), "--ml1m-dir", str(fixtures / "ml1m"),
            "--sampled", *RANK_FLAGS]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(ncf split" in out and "the given negatives; 4 cases" in out
    assert main([*args, "--split", "random"]) == 2
    assert "drop --split random" in capsys.readouterr().err
    assert main(["train", "--dataset", "ncf-ml-1m", "--data-dir",
                 str(fixtures / "ncf"), "--no-progress"]) == 2  # fmt: skip
    assert "--task ranking" in capsys.readouterr().err
