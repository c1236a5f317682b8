"""Users' own files: ids, times, duplicates, invalid rows, side tables, encodings,
quotes, predict-time values, index checks and splits (README "Data sets").

Each fixture in tests/fixtures/cases/ is a few lines of the kind of file users
send; the expected values are counted by hand from those lines, and every error
must name the file, the 1-based line of the file and the column as written.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from hybridrec_jax import ModelConfig, init_params
from hybridrec_jax.cli import build_parser, main
from hybridrec_jax.data import (
    CSVOptions,
    DataError,
    from_tables,
    prepare_interactions,
    split_rows,
)
from hybridrec_jax.data.checks import check_ids, check_ratings
from hybridrec_jax.data.dataset import tiny_dataset
from hybridrec_jax.evaluate import evaluate_full_ranking, predict, score_all
from hybridrec_jax.evaluate.scoring import device_features
from hybridrec_jax.experiment import prepare_split
from hybridrec_jax.serve import make_recommender, top_k, user_feature_row
from hybridrec_jax.serve.recommend import recommend_new_user

CASES = Path(__file__).parent / "fixtures" / "cases"
CFG = ModelConfig(embedding_dim=2, hidden_dims=(3,), dot_dim=2, interaction_dim=0)


def prepare(ratings, users=None, items=None, **kwargs):
    return prepare_interactions(
        ratings if isinstance(ratings, pd.DataFrame) else CASES / ratings,
        None if users is None else CASES / users,
        None if items is None else CASES / items,
        **kwargs,
    )


def with_lines(name: str, tmp_path: Path, replace: dict[int, str]) -> Path:
    """A copy of fixture ``name`` with file lines (1-based) replaced."""
    lines = (CASES / name).read_text().splitlines()
    for number, text in replace.items():
        lines[number - 1] = text
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- rule 1: ids are labels --------------------------------------------------


def test_ids_are_the_text_in_the_file():
    ds, prep = prepare("ids_leading_zeros.csv")
    assert (ds.n_users, ds.n_interactions) == (4, 6)  # 007, 7, 0042, 42
    assert sorted(ds.user_ids.tolist()) == ["0042", "007", "42", "7"]
    assert sum(prep.dropped.values()) == 0


def test_numbers_as_ids_only_when_asked(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n007,1,5\n7,2,3\n0042,1,1\n42,1,2\n")
    labels, _ = prepare_interactions(path)
    assert labels.n_users == 4
    numbers, prep = prepare_interactions(path, numeric_ids=True)
    # As numbers 007 = 7 and 0042 = 42; (42, 1) repeats: 3 rows of 2 users.
    assert (numbers.n_users, numbers.n_interactions) == (2, 3)
    assert sorted(numbers.user_ids.tolist()) == [7, 42]
    assert numbers.user_ids.dtype == np.int64
    assert main(["data", "prepare", "csv", "--ratings-file", str(path),
                 "--numeric-ids", "--test-fraction", "0.5"]) == 0  # fmt: skip
    assert "kept 3 interactions of 4 read (1 dropped); 2 users" in (
        capsys.readouterr().out
    )
    path.write_text("user,item,rating\n7,A1,5\n")
    with pytest.raises(DataError, match=r"line 2, column 'item': numeric ids"):
        prepare_interactions(path, numeric_ids=True)


def test_a_known_user_is_addressed_by_its_text():
    ds, _ = prepare("ids_leading_zeros.csv")
    params = init_params(jax.random.key(0), CFG, ds.n_users, ds.n_items, 0, 0)
    rec = make_recommender(params, CFG, ds)
    u007, u7 = rec.user_index("007"), rec.user_index("7")
    assert u007 != u7
    assert ds.user_ids[u007] == "007" and ds.user_ids[u7] == "7"


def test_blank_and_huge_ids(tmp_path):
    huge = "123456789012345678901234567890"
    path = tmp_path / "r.csv"
    path.write_text(f"user,item,rating\n007,1,5\n,2,4\n{huge},1,3\n")
    ds, prep = prepare_interactions(path)
    assert prep.dropped["missing user or item id"] == 1
    assert sorted(ds.user_ids.tolist()) == ["007", huge]  # every digit kept


def test_surrounding_spaces_are_not_part_of_an_id_in_any_table():
    ds, _ = prepare("whitespace_ratings.csv", "whitespace_users.csv")
    assert ds.user_ids.tolist() == ["u1", "u2", "u3"]
    assert ds.n_interactions == 4  # "u1 " is u1 and " u2 " is u2
    age_missing = list(ds.user_feature_names).index("age_missing")
    assert ds.user_features[:, age_missing].tolist() == [0.0, 0.0, 0.0]


# ---- rule 2: times -------------------------------------------------------------


def test_iso_times_and_epoch_seconds(tmp_path):
    with pytest.raises(
        DataError, match=r"iso_timestamps\.csv, line 6, column 'timestamp': "
        r"expected a time .*found '29-01-2021 11:01'"
    ):  # fmt: skip
        prepare("iso_timestamps.csv")
    path = with_lines("iso_timestamps.csv", tmp_path,
                      {6: "3,11,1,2021-01-29T09:01:00+02:00"})  # fmt: skip
    ds, _ = prepare_interactions(path)

    def utc(*args):
        return int(datetime(*args, tzinfo=UTC).timestamp())

    expected = [
        utc(2021, 1, 29, 7, 1), utc(2021, 1, 30, 8, 1), utc(2021, 3, 12, 5, 3),
        1611900000, utc(2021, 1, 29, 7, 1), utc(2021, 2, 1, 10, 0),
    ]  # fmt: skip
    assert ds.timestamp.tolist() == expected
    train, test = split_rows(ds, "random", test_fraction=0.5)
    assert len(train) + len(test) == 6  # no row dropped for its time


def test_a_bad_time_names_the_column_as_written(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("uid,iid,stars,when\n1,1,5,2021-01-29\n1,2,4,yesterday\n")
    with pytest.raises(DataError, match=r"r\.csv, line 3, column 'when'"):
        prepare_interactions(path, columns={
            "user": "uid", "item": "iid", "rating": "stars", "timestamp": "when"
        })  # fmt: skip


def test_cli_refuses_a_bad_time_for_every_split(capsys):
    for split in ("time", "random"):
        args = ["data", "prepare", "csv", "--split", split, "--ratings-file"]
        assert main([*args, str(CASES / "iso_timestamps.csv")]) == 2
        assert "line 6, column 'timestamp'" in capsys.readouterr().err


# ---- rule 3: duplicates ----------------------------------------------------------


def test_duplicates_keep_the_latest_then_the_files_last():
    ds, prep = prepare("duplicate_latest.csv")
    first = (ds.user_ids[ds.user] == "1") & (ds.item_ids[ds.item] == "10")
    assert ds.rating[first].tolist() == [5.0]  # t=1700000500, not line 5's t=...000
    assert "dropped 1 rows: duplicate (user, item), kept the latest by timestamp" in (
        ds.report
    )
    no_time = pd.read_csv(CASES / "duplicate_latest.csv", dtype=str)
    ds, _ = prepare(no_time.drop(columns="timestamp"))
    first = (ds.user_ids[ds.user] == "1") & (ds.item_ids[ds.item] == "10")
    assert ds.rating[first].tolist() == [1.0]  # the file's last
    assert any("kept the last in the file" in line for line in ds.report)
    mean, _ = prepare("duplicate_latest.csv", duplicates="average")
    first = (mean.user_ids[mean.user] == "1") & (mean.item_ids[mean.item] == "10")
    assert mean.rating[first].tolist() == [(5.0 + 1.0) / 2]


# ---- rule 4: ratings -------------------------------------------------------------

INVALID = {  # file line: the reason it is invalid
    3: "missing rating", 4: "rating outside 1..5", 5: "rating outside 1..5",
    7: "rating is NaN", 8: "rating is not a number", 9: "rating outside 1..5",
}  # fmt: skip


def test_invalid_ratings_are_counted_by_reason():
    ds, prep = prepare("invalid_rows.csv", rating_range=(1, 5))
    assert ds.n_interactions == 2  # lines 2 and 6
    assert prep.dropped == {
        "missing rating": 1, "rating outside 1..5": 3, "rating is NaN": 1,
        "rating is not a number": 1,
        "duplicate (user, item), kept the last in the file": 0,
    }  # fmt: skip


@pytest.mark.parametrize("line", sorted(INVALID))
def test_strict_mode_names_each_invalid_line(line, tmp_path):
    # The invalid lines before ``line`` made valid, so ``line`` is the first.
    fixed = {n: f"9,{n},3" for n in INVALID if n < line}
    path = with_lines("invalid_rows.csv", tmp_path, fixed)
    message = rf"invalid_rows\.csv, line {line}, column 'rating': invalid interaction: "
    with pytest.raises(DataError, match=message + re.escape(INVALID[line])):
        prepare_interactions(path, rating_range=(1, 5), invalid="error")


def test_infinite_and_float32_overflowing_ratings():
    ds, prep = prepare("inf_ratings.csv")
    assert prep.dropped["rating is infinite"] == 2  # inf (line 5), -inf (line 10)
    assert prep.dropped["rating overflows float32"] == 1  # 1e39, line 9
    assert ds.rating_range == (2.0, 5.0) and ds.n_interactions == 6  # 9 read
    with pytest.raises(DataError, match=r"line 5, column 'rating'.*infinite"):
        prepare("inf_ratings.csv", invalid="error")


def test_a_heavy_drop_is_a_warning_line(capsys):
    ds, _ = prepare("invalid_rows.csv", rating_range=(4, 5))
    warning = [line for line in ds.report if line.startswith("WARNING")]
    assert warning == [
        "WARNING: 6 of 8 rows read (75%) were dropped, mostly: rating outside "
        "4..5 (3 rows); is --rating-range (rating_range=) right?"
    ]
    args = ["data", "prepare", "csv", "--rating-range", "4,5", "--test-fraction",
            "0.5", "--ratings-file"]  # fmt: skip
    assert main([*args, str(CASES / "invalid_rows.csv")]) == 0
    assert warning[0] in capsys.readouterr().out.splitlines()


def test_checks_refuse_infinite_ids_and_name_a_missing_rating():
    with pytest.raises(DataError, match=r"line 3, column 'user'"):
        check_ids(pd.DataFrame({"user": [1.0, np.inf]}), ("user",), "r", header_lines=1)
    with pytest.raises(DataError, match=r"line 2, column 'rating': missing rating"):
        check_ratings(pd.DataFrame({"rating": [np.nan]}), (1, 5), "r", header_lines=1)


# ---- rule 5: side tables ---------------------------------------------------------


@pytest.mark.parametrize(
    "users, message",
    [
        ("users_duplicate_id.csv", "file {}, line 12, column 'user': duplicate id 6 "
         "(first on line 7)"),
        ("users_missing_id.csv", "file {}, line 5, column 'user': missing id"),
        ("inf_feature_users.csv", "file {}, line 4, column 'age': expected a finite "
         "number, found 'inf'"),
    ],
)  # fmt: skip
def test_side_table_errors_name_file_line_and_column(users, message):
    with pytest.raises(DataError, match=re.escape(message.format(CASES / users))):
        prepare("side_ratings.csv", users)


def test_side_key_as_written_and_ids_without_interactions(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("uid,age\n1,20\n2,30\n3,40\n8,50\n8,60\n")
    with pytest.raises(DataError, match=r"line 6, column 'uid': duplicate id 8"):
        prepare("side_ratings.csv", path, user_key="uid")
    path.write_text("uid,age\n1,20\n2,30\n3,40\n8,50\n9,60\n")
    ds, _ = prepare("side_ratings.csv", path, user_key="uid")
    # The ratings rate users 1 and 2 only: 3, 8 and 9 are on lines 4, 5 and 6.
    line = f"user table ({path}): 3 ids without an interaction (lines 4, 5, 6); kept"
    assert f"{line}, not rated" in ds.report


def test_in_memory_tables_name_the_row():
    ratings = pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 2], "rating": [5, 3, 4]})
    users = pd.DataFrame({"user": [1, 2, 1]})
    with pytest.raises(DataError, match=r"row 3, column 'user': duplicate id 1 "
                       r"\(first on row 1\)"):  # fmt: skip
        from_tables(ratings, users)


def test_without_side_tables_only_kept_ids_are_indexed():
    r = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": [1, 2, 1, 2, 1],
                      "rating": [5.0, 4.0, 3.0, 2.0, 1.0]})  # fmt: skip
    ds, _ = from_tables(r, min_user_interactions=2)
    assert ds.user_ids.tolist() == [1, 2]  # user 3 fell to the k-core
    ds, _ = from_tables(r, implicit=True, implicit_threshold=4.0)
    assert ds.user_ids.tolist() == [1] and ds.item_ids.tolist() == [1, 2]


# ---- rule 6: multi-valued columns ------------------------------------------------


def test_multi_valued_separator_trims_and_ignores_order(tmp_path):
    items = tmp_path / "items.csv"
    items.write_text("item,genres\n1,sport; games\n2,games;sport;\n3,art\n")
    ratings = tmp_path / "r.csv"
    ratings.write_text("user,item,rating\n1,1,5\n1,2,4\n2,3,3\n")
    ds, _ = prepare_interactions(ratings, None, items, multi_sep=";")
    assert list(ds.item_feature_names) == ["genres=art", "genres=games", "genres=sport"]
    assert ds.item_features.tolist() == [[0, 1, 1], [0, 1, 1], [1, 0, 0]]
    assert "multi-valued columns (separator ';'): item.genres" in ds.report


# ---- rules 7 and 8: encodings and quotes -----------------------------------------


def test_encoding_option(capsys):
    with pytest.raises(
        DataError, match=r"latin1_items\.csv, line 3: .*--encoding \(encoding= in"
    ):
        prepare("latin1_ratings.csv", items="latin1_items.csv")
    ds, _ = prepare("latin1_ratings.csv", items="latin1_items.csv",
                    encoding="latin-1", title_column="title")  # fmt: skip
    assert ds.item_titles.tolist() == ["Amelie", "Les Misérables", "Café Society"]
    args = ["data", "prepare", "csv", "--ratings-file",
            str(CASES / "latin1_ratings.csv"), "--items-file",
            str(CASES / "latin1_items.csv")]  # fmt: skip
    assert main(args) == 2
    assert main([*args, "--encoding", "latin-1"]) == 0


def test_a_stray_quote_never_swallows_lines(capsys):
    with pytest.raises(
        DataError, match=r"stray_quote\.csv, line 5, column 'rating': a quote "
        r"opened here is not closed on this line: it runs to line 15"
    ):  # fmt: skip
        prepare("stray_quote.csv")
    args = ["data", "prepare", "csv", "--ratings-file"]
    assert main([*args, str(CASES / "stray_quote.csv")]) == 2
    assert "line 5, column 'rating'" in capsys.readouterr().err


def test_rows_are_file_lines_around_blank_lines(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('user,item,rating\n1,"a, b",5\n\n2,c,\n')
    with pytest.raises(DataError, match=r"line 4, column 'rating': invalid "):
        prepare_interactions(path, invalid="error")


# ---- rule 9: predict-time values and index checks --------------------------------


@pytest.fixture(scope="module")
def multihot_rec():
    train, _, prep = prepare_split(
        "csv", None, "random", 0.2, 0,
        csv=CSVOptions(ratings=str(CASES / "multihot_ratings.csv"),
                       users=str(CASES / "multihot_users.csv")),
    )  # fmt: skip
    params = init_params(jax.random.key(0), CFG, train.n_users, train.n_items,
                         train.user_features.shape[1], 0)  # fmt: skip
    return make_recommender(params, CFG, train, user_encoder=prep.user_encoder)


def test_new_user_multi_valued_and_numeric_values(multihot_rec):
    names = list(multihot_rec.user_feature_names)
    row = user_feature_row(multihot_rec, {"tags": "music|art"})
    assert row[names.index("tags=music")] == 1.0 and row[names.index("tags=art")] == 1
    assert row[[names.index(f"tags={t}") for t in ("film", "sport")]].tolist() == [0, 0]
    same = user_feature_row(multihot_rec, {"tags": " art | music"})
    assert same.tolist() == row.tolist()
    with pytest.raises(ValueError, match="feature 'age' is numeric.*'thirty'"):
        user_feature_row(multihot_rec, {"age": "thirty"})
    with pytest.raises(ValueError, match="feature 'age' is numeric.*'inf'"):
        user_feature_row(multihot_rec, {"age": "inf"})


def test_new_user_unknown_category_maps_to_unknown_and_says_so(multihot_rec):
    notes = []
    row = user_feature_row(multihot_rec, {"gender": "Q"}, notes)
    assert row[list(multihot_rec.user_feature_names).index("gender=unknown")] == 1.0
    assert notes == ["gender: 'Q' never seen in training; mapped to 'unknown'"]
    table = recommend_new_user(multihot_rec, {"gender": "Q", "tags": "xyz"}, k=2)
    assert len(table.attrs["notes"]) == 2


def test_public_functions_refuse_indices_out_of_range():
    data = tiny_dataset()  # 3 users, 2 items
    params = init_params(jax.random.key(0), CFG, 3, 2, 3, 2)
    features = device_features(data)
    with pytest.raises(ValueError, match=r"user index 3 \(position 1\) is outside"):
        predict(params, CFG, features, np.array([0, 3]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"item index -1 \(position 0\)"):
        predict(params, CFG, features, np.array([0]), np.array([-1]))
    with pytest.raises(ValueError, match=r"user index 7"):
        score_all(params, CFG, features, np.array([7]))
    with pytest.raises(ValueError, match=r"item index 2"):
        score_all(params, CFG, features, np.array([0]), np.array([2]))
    with pytest.raises(ValueError, match=r"user index 3"):
        top_k(make_recommender(params, CFG, data), np.array([3]), k=1)
    pairs = (np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match=r"item index 5"):
        evaluate_full_ranking(params, CFG, features, pairs, (np.array([1]),
                              np.array([5])))  # fmt: skip


# ---- rule 10: a split must leave test and training rows --------------------------


def test_a_split_without_test_rows_is_refused(capsys):
    ds, _ = prepare("one_rating_per_user.csv")
    with pytest.raises(DataError, match="leave-one-out split leaves no test rows: "
                       "each of the 4 users has a single interaction"):  # fmt: skip
        split_rows(ds, "leave-one-out")
    args = ["train", "--dataset", "csv", "--split", "leave-one-out", "--ratings-file"]
    assert main([*args, str(CASES / "one_rating_per_user.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hybridrec: error: the leave-one-out split leaves no test")


def test_a_time_cut_on_the_earliest_time_says_so():
    ds = dataclasses.replace(tiny_dataset(), timestamp=np.array([1, 1, 2]))
    with pytest.raises(DataError, match=r"falls on the earliest time \(1\): 2 of 3"):
        split_rows(ds, "time", test_fraction=0.9)
    same = dataclasses.replace(tiny_dataset(), timestamp=np.array([4, 4, 4]))
    with pytest.raises(DataError, match="every interaction has the same time"):
        split_rows(same, "time", test_fraction=0.5)


# ---- rule 11: every loader option has a flag --------------------------------------


def test_help_lists_choices_and_each_default_once():
    commands = build_parser()._subparsers._group_actions[0].choices
    train = commands["train"]
    actions = {a.dest: a for a in train._actions}
    assert actions["missing_side"].choices == ("impute", "drop", "error")
    assert actions["duplicates"].choices == ("last", "mean", "average")
    text = train.format_help()
    assert "{impute,drop,error}" in text and "{last,mean,average}" in text
    assert "--activation {relu,sigmoid,tanh,identity}" in text
    assert "--optimizer {adam,sgd,adagrad}" in text and "(default: )" not in text
    for block in re.split(r"\n  (?=-)", text):
        assert block.count("(default:") <= 1, block
    for flag in ("--encoding", "--multi-sep", "--numeric-ids", "--user-key",
                 "--item-key", "--missing-side", "--duplicates", "--strict",
                 "--min-user-interactions", "--min-item-interactions"):  # fmt: skip
        assert flag in text


def test_flags_reach_the_loader(capsys, tmp_path):
    ids = ["data", "prepare", "csv", "--ratings-file",
           str(CASES / "ids_leading_zeros.csv")]  # fmt: skip
    assert main([*ids, "--min-user-interactions", "2"]) == 0
    # 007 and 7 rate twice, 0042 and 42 once: the k-core keeps 2 users, 4 rows.
    assert "kept 4 interactions of 6 read (2 dropped); 2 users" in (
        capsys.readouterr().out
    )
    strict = ["data", "prepare", "csv", "--strict", "--ratings-file",
              str(CASES / "invalid_rows.csv")]  # fmt: skip
    assert main(strict) == 2
    assert "line 3, column 'rating'" in capsys.readouterr().err
    users = tmp_path / "users.csv"
    users.write_text("user,age\n1,20\n")  # user 2 (line 10 of the ratings) has none
    side = ["data", "prepare", "csv", "--ratings-file", str(CASES / "side_ratings.csv"),
            "--users-file", str(users), "--missing-side"]  # fmt: skip
    assert main([*side, "error"]) == 2
    assert (
        "side_ratings.csv, line 10, column 'user': user 2 has no row in the "
        "user table" in capsys.readouterr().err
    )
    assert main([*side, "drop", "--test-fraction", "0.5"]) == 0
    assert "kept 8 interactions of 11 read (3 dropped)" in capsys.readouterr().out
