"""`hybridrec evaluate` and `hybridrec predict`: a saved model on a file of pairs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hybridrec_jax.cli import main
from hybridrec_jax.data import CSVOptions, SyntheticConfig, synthetic_tables
from hybridrec_jax.experiment import load_split

TINY = ["--epochs", "2", "--embedding-dim", "4", "--hidden-dims", "8",
        "--dot-dim", "4", "--interaction-dim", "2", "--batch-size", "256",
        "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The tiny synthetic tables as the files a user would have."""
    folder = tmp_path_factory.mktemp("tables")
    ratings, users, items = synthetic_tables(SyntheticConfig.tiny())
    for name, table in (("ratings", ratings), ("users", users), ("items", items)):
        table.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _csv(folder):
    files = {n: str(folder / f"{n}.csv") for n in ("ratings", "users", "items")}
    return CSVOptions(**files, title_column="title")


@pytest.fixture(scope="module")
def cold_model(tables, tmp_path_factory):
    """A rating model trained on a cold-items split, its report and its test
    rows as a file (user, item, rating) with two rows of unknown ids."""
    folder = tmp_path_factory.mktemp("cold")
    report = folder / "report.json"
    args = ["train", "--dataset", "csv", "--ratings-file",
            str(tables / "ratings.csv"), "--users-file", str(tables / "users.csv"),
            "--items-file", str(tables / "items.csv"), "--title-column", "title",
            "--split", "cold-items", "--save-model", str(folder / "model"),
            "--output-json", str(report), *TINY]  # fmt: skip
    assert main(args) == 0
    _, test = load_split("csv", split="cold-items", csv=_csv(tables))
    table = pd.DataFrame({"user": test.user_ids[test.user],
                          "item": test.item_ids[test.item],
                          "rating": test.rating})  # fmt: skip
    extra = pd.DataFrame({"user": ["nobody", str(test.user_ids[0])],
                          "item": [str(test.item_ids[0]), "no-such-item"],
                          "rating": [4.0, 3.0]})  # fmt: skip
    pd.concat([table, extra]).to_csv(folder / "test.csv", index=False)
    return folder, json.loads(report.read_text()), test


def test_evaluate_gives_the_training_run_figures_and_counts_unknown_ids(
    cold_model, capsys
):
    """The saved model on its own test rows: the RMSE that `train` printed; the
    two rows naming unknown ids are counted, not scored; every test row has a
    cold item (zero id rows), scored from content."""
    folder, report, test = cold_model
    out = folder / "eval.json"
    args = ["evaluate", "--model", str(folder / "model"), "--interactions",
            str(folder / "test.csv"), "--output-json", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["rating"]["rmse"] == pytest.approx(report["test_rmse"], rel=1e-5)
    assert figures["rating"]["mae"] == pytest.approx(report["test_mae"], rel=1e-5)
    assert figures["n_rows"] == test.n_interactions + 2
    assert figures["n_scored"] == test.n_interactions
    assert figures["unknown"]["rows"] == 2
    assert figures["unknown"]["user_examples"] == ["nobody"]
    assert figures["unknown"]["item_examples"] == ["no-such-item"]
    assert figures["cold"]["rows_with_cold_item"] == test.n_interactions
    assert figures["cold"]["rows_with_cold_user"] == 0
    assert figures["ranking"]["n_users"] == len(np.unique(test.user))
    assert "not scored: 2 pairs" in printed and "e.g. nobody" in printed
    assert "hr@10" in printed and "RMSE" in printed


def test_predict_scores_every_line_in_order(cold_model, capsys):
    """predict: one output row per input row, in order; the scores equal the
    model's clipped predictions; unknown ids get an empty score and a note."""
    from hybridrec_jax.evaluate import predict
    from hybridrec_jax.serve.saved_model import load_recommender

    folder, _, test = cold_model
    scores_file = folder / "scores.csv"
    args = ["predict", "--model", str(folder / "model"), "--pairs",
            str(folder / "test.csv"), "--out", str(scores_file)]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "note: 2 pairs name ids the model does not know" in captured.err
    scores = pd.read_csv(scores_file, dtype={"user": str, "item": str})
    assert list(scores.columns) == ["user", "item", "rating"]
    assert len(scores) == test.n_interactions + 2
    assert scores["rating"].iloc[-2:].isna().all()
    rec = load_recommender(folder / "model")
    expected = predict(rec.params, rec.model_cfg, rec.features, test.user,
                       test.item, clip=test.rating_range)  # fmt: skip
    np.testing.assert_allclose(scores["rating"].iloc[:-2], expected, rtol=1e-5)
    assert main(args[:-2]) == 0  # no --out: the CSV on stdout
    assert capsys.readouterr().out.startswith("user,item,rating\n")


@pytest.mark.parametrize(
    "content, says",
    [
        ("user,item\n1,2\n,3\n", "line 3, column 'user': missing user id"),
        (
            "user,item,rating\n1,2,4\n1,3,abc\n",
            "line 3, column 'rating': rating 'abc' is not a finite number",
        ),  # fmt: skip
        ("uid,item\n1,2\n", "column 'user': no column 'user' for the user"),
        ("user,item\n", "the file has no data rows"),
    ],
)
def test_predict_names_the_file_line_and_column_of_bad_input(
    cold_model, tmp_path, capsys, content, says
):
    folder, _, _ = cold_model
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert main(["predict", "--model", str(folder / "model"), "--pairs",
                 str(bad)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"file {bad}" in err and says in err


def test_evaluate_refuses_out_of_scale_ratings_and_a_threshold_without_them(
    cold_model, tmp_path, capsys
):
    folder, _, _ = cold_model
    model = ["evaluate", "--model", str(folder / "model"), "--interactions"]
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,1,4\n1,2,9\n")
    assert main([*model, str(bad)]) == 2
    assert "line 3, column 'rating': rating 9 outside" in capsys.readouterr().err
    bad.write_text("user,item\n1,1\n")
    assert main([*model, str(bad), "--threshold", "4"]) == 2
    assert "--threshold needs a rating column" in capsys.readouterr().err


def test_predict_gives_probabilities_for_a_ranking_model(tables, tmp_path, capsys):
    """A model trained with --task ranking scores sigmoid(z), in (0, 1); the
    columns of another name are mapped with --columns."""
    model = tmp_path / "model"
    args = ["train", "--task", "ranking", "--dataset", "csv", "--ratings-file",
            str(tables / "ratings.csv"), "--save-model", str(model),
            *TINY]  # fmt: skip
    assert main(args) == 0
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("who,what\n1,1\n2,5\n")
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--pairs", str(pairs),
                 "--columns", "user=who,item=what"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "user,item,probability" and len(lines) == 3
    values = [float(line.split(",")[2]) for line in lines[1:]]
    assert all(0.0 < v < 1.0 for v in values)


def test_evaluate_pairs_clips_to_the_scale_and_ranks_only_relevant_pairs(tmp_path):
    """A model whose every prediction lies far above the scale: RMSE is that of
    predicting the top rating 5, as arithmetic; --threshold 4 keeps the users
    with a rating >= 4 as the ranked ones."""
    import jax

    from hybridrec_jax import ModelConfig, TrainConfig, init_params
    from hybridrec_jax.data.dataset import tiny_dataset
    from hybridrec_jax.serve.pairs import evaluate_pairs, read_pairs
    from hybridrec_jax.serve.saved_model import make_recommender

    data = tiny_dataset()  # users 10, 11, 12; items 100, 101; scale 1..5
    params = init_params(jax.random.key(0), ModelConfig.tiny(), 3, 2, 3, 2,
                         global_mean=100.0)  # fmt: skip
    rec = make_recommender(params, ModelConfig.tiny(), data, train_cfg=TrainConfig())
    path = tmp_path / "new.csv"
    path.write_text("user,item,rating\n10,101,5\n11,100,3\n12,100,4\n")
    report = evaluate_pairs(rec, read_pairs(path), threshold=4)
    assert report["rating"]["rmse"] == pytest.approx(np.sqrt((0 + 4 + 1) / 3))
    assert report["rating"]["mae"] == pytest.approx((0 + 2 + 1) / 3)
    assert report["ranking"]["n_users"] == 2  # users 10 and 12


def test_evaluate_ranks_with_min_support_and_shrinkage(cold_model, capsys):
    """--min-support and --shrinkage reach the ranking as in evaluate_pairs;
    a minimum no item reaches lists nothing, so nothing relevant is hit."""
    from hybridrec_jax.evaluate import evaluate_full_ranking
    from hybridrec_jax.serve.pairs import evaluate_pairs, index_pairs, read_pairs
    from hybridrec_jax.serve.saved_model import load_recommender

    folder, _, _ = cold_model
    rec = load_recommender(folder / "model")
    table = read_pairs(folder / "test.csv")
    figures = {}
    for name, options in (("some", ["--min-support", "2", "--shrinkage", "5"]),
                          ("none listable", ["--min-support", "1000000"])):  # fmt: skip
        out = folder / f"eval_{name}.json"
        args = ["evaluate", "--model", str(folder / "model"), "--interactions",
                str(folder / "test.csv"), "--output-json", str(out),
                *options]  # fmt: skip
        assert main(args) == 0
        figures[name] = json.loads(out.read_text())["ranking"]
    printed = capsys.readouterr().out
    assert "items with >= 2 training interactions, shrinkage beta 5" in printed
    expected = evaluate_pairs(rec, table, min_support=2, shrinkage=5.0)["ranking"]
    # Independently: the full-catalogue protocol on the known pairs of the file,
    # the saved seen pairs masked, with the same options.
    users, items = index_pairs(rec, table)
    known = (users >= 0) & (items >= 0)
    counts = np.diff(rec.seen_offsets)
    seen = (np.repeat(np.arange(len(counts)), counts), rec.seen_items)
    direct = evaluate_full_ranking(rec.params, rec.model_cfg, rec.features, seen,
                                   (users[known], items[known]), min_support=2,
                                   shrinkage=5.0)  # fmt: skip
    for name in ("hr@10", "ndcg@10", "recall@10", "map@10", "auc", "mrr"):
        assert figures["some"][name] == pytest.approx(expected[name], rel=1e-6)
        assert figures["some"][name] == pytest.approx(direct[name], rel=1e-6)
        if name != "auc":
            assert figures["none listable"][name] == 0.0
