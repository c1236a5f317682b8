"""Data: synthetic generator, preparation, ML-100K loader, splits, bad input, the
one table reader, the one NAME=VALUE parser and the data finder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridrec_jax.data import (
    DataError,
    FeatureSpec,
    SyntheticConfig,
    assignments,
    catalog,
    encode,
    find_data,
    fit_encoder,
    from_tables,
    load_ml100k,
    load_synthetic,
    ml100k_fold,
    parse_assignments,
    random_split,
    synthetic_tables,
)
from hybridrec_jax.data.ml1m import read_ml1m_ratings
from hybridrec_jax.data.movielens_csv import read_ratings_csv
from hybridrec_jax.data.readers import read_table


def test_synthetic_is_deterministic_by_seed():
    a = synthetic_tables(SyntheticConfig.tiny())
    b = synthetic_tables(SyntheticConfig.tiny())
    c = synthetic_tables(
        SyntheticConfig(n_users=60, n_items=80, n_ratings=2000, seed=1)
    )
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)
    assert not a[0]["rating"].equals(c[0]["rating"])


def test_synthetic_default_size_and_shape():
    ratings, users, items = synthetic_tables(SyntheticConfig())
    assert len(ratings) == 100_000
    assert ratings[["user", "item"]].duplicated().sum() == 0
    assert set(np.unique(ratings["rating"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # Missing values of every kind are present, as in real data.
    assert users["age"].isna().any() and users["occupation"].isna().any()
    assert items["year"].isna().any() and items["genres"].isna().any()
    # Popularity skew: the top 10% of items take far more than 10% of ratings.
    counts = np.sort(ratings["item"].value_counts().to_numpy())[::-1]
    assert counts[: len(counts) // 10].sum() > 0.3 * len(ratings)


def test_synthetic_features_carry_signal(tiny_data):
    ds = load_synthetic(SyntheticConfig(n_users=300, n_items=400, n_ratings=20_000))
    # Encoded features are finite after imputation and ratings depend on genres:
    # per-genre mean ratings differ by more than noise would explain.
    assert np.isfinite(ds.user_features).all() and np.isfinite(ds.item_features).all()
    genre_cols = [
        k for k, n in enumerate(ds.item_feature_names) if n.startswith("genres=")
    ]
    x = ds.item_features[ds.item][:, genre_cols]
    means = [
        (ds.rating * x[:, g]).sum() / x[:, g].sum() for g in range(len(genre_cols))
    ]
    assert np.ptp(means) > 0.1


def test_encoder_imputes_with_training_statistics():
    train = pd.DataFrame(
        {"age": [10.0, 20.0, None, 40.0], "g": ["a", "b", "a", None],
         "tags": [["x"], ["x", "y"], None, []]}
    )  # fmt: skip
    specs = [FeatureSpec("age", "numeric"), FeatureSpec("g", "categorical"),
             FeatureSpec("tags", "multihot")]  # fmt: skip
    enc = fit_encoder(train, specs)
    assert enc.names == ["age", "age_missing", "g=a", "g=b", "g=unknown",
                         "tags=x", "tags=y"]  # fmt: skip
    test = pd.DataFrame({"age": [None], "g": ["never-seen"], "tags": [["y", "z"]]})
    x = encode(test, enc)
    median, mean = 20.0, np.mean([10.0, 20.0, 20.0, 40.0])
    std = np.std([10.0, 20.0, 20.0, 40.0])
    np.testing.assert_allclose(
        x[0], [(median - mean) / std, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0], rtol=1e-6
    )


def test_from_tables_policies_for_missing_side_rows():
    ratings = pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 2], "rating": [5, 3, 4]})
    users = pd.DataFrame({"user": [1, 2], "age": [30.0, 40.0]})
    spec = [FeatureSpec("age", "numeric")]
    ds, _ = from_tables(ratings, users, user_features=spec)
    assert ds.n_users == 3 and ds.n_interactions == 3
    assert ds.user_features[2, 1] == 1.0  # the imputed user is flagged missing
    dropped, _ = from_tables(ratings, users, user_features=spec, missing_side="drop")
    assert dropped.n_interactions == 2
    with pytest.raises(DataError, match="row 3, column .user.: user 3 has no row"):
        from_tables(ratings, users, user_features=spec, missing_side="error")


def test_from_tables_rejects_duplicate_side_rows_and_empty_tables():
    ratings = pd.DataFrame({"user": [1], "item": [1], "rating": [5.0]})
    users = pd.DataFrame({"user": [1, 1], "age": [3.0, 4.0]})
    message = "row 2, column 'user': duplicate id 1 .first on row 1"
    with pytest.raises(DataError, match=message):
        from_tables(ratings, users)
    with pytest.raises(DataError, match="empty"):
        from_tables(ratings.iloc[:0])
    with pytest.raises(DataError, match="no 'rating' column"):
        from_tables(ratings.drop(columns="rating"))


def test_random_split_is_a_seeded_partition():
    train, test = random_split(1000, 0.2, seed=3)
    assert len(test) == 200 and len(np.intersect1d(train, test)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(1000))
    again, _ = random_split(1000, 0.2, seed=3)
    other, _ = random_split(1000, 0.2, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


# ---- ML-100K (the real copy; skipped where absent) ---------------------------


@pytest.fixture(scope="module")
def ml100k(ml100k_dir):
    return load_ml100k(ml100k_dir)


def test_ml100k_counts(ml100k):
    assert ml100k.n_interactions == 100_000
    assert ml100k.n_users == 943 and ml100k.n_items == 1682
    assert ml100k.user_features.shape[1] >= 23
    genres = [n for n in ml100k.item_feature_names if n.startswith("genres=")]
    assert len(genres) == 19
    assert abs(float(ml100k.rating.mean()) - 3.52986) < 1e-5
    # latin-1 title read correctly
    assert any("Misérables" in t for t in ml100k.item_titles)


def test_ml100k_predefined_folds(ml100k, ml100k_dir):
    for fold, n_test in (("u1", 20_000), ("u5", 20_000), ("ua", 9_430)):
        train, test = ml100k_fold(ml100k, ml100k_dir, fold)
        assert len(test) == n_test and len(train) == 100_000 - n_test
        assert len(np.intersect1d(train, test)) == 0
    # u1.test holds lines 1..20000 of the sorted data: users 1..462.
    _, test = ml100k_fold(ml100k, ml100k_dir, "u1")
    assert ml100k.user_ids[ml100k.user[test]].max() == 462


# ---- bad input: each case a tiny fixture file --------------------------------


@pytest.fixture
def write(tmp_path):
    def _write(name: str, content: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return _write


def test_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match="u.data.*file not found"):
        load_ml100k(tmp_path)


def test_wrong_separator_names_file_and_line(write):
    path = write("u.data", b"1\t2\t3\t4\n1,2,3,4\n")
    with pytest.raises(
        DataError,
        match=r"u\.data, line 2: wrong number of fields: expected 4 .* found 1",
    ):
        read_table(path, sep="\t", names=["a", "b", "c", "d"])


def test_non_numeric_rating_names_row_and_column(write, tmp_path):
    write("u.data", b"1\t2\t3\t4\n1\t3\tfive\t4\n")
    with pytest.raises(DataError, match=r"line 2, column 'rating': expected a number"):
        load_ml100k(tmp_path)


def test_out_of_range_rating(write, tmp_path):
    write("u.data", b"1\t2\t3\t4\n1\t3\t9\t4\n")
    with pytest.raises(DataError, match=r"line 2, column 'rating': rating 9"):
        load_ml100k(tmp_path)


def test_bad_encoding_names_line(write):
    path = write("u.user", b"1|24|M|technician|85711\n2|53|F|\xe9t\xe9|94043\n")
    with pytest.raises(DataError, match=r"line 2.*not valid utf-8"):
        read_table(path, sep="|", names=list("abcde"))


def test_empty_file(write):
    path = write("u.data", b"")
    with pytest.raises(DataError, match="file is empty"):
        read_table(path, sep="\t", names=["a"])


# ---- the one reader: short lines, line numbers, text columns, Parquet ----------


def test_short_line_is_found_past_blank_lines_and_quotes(write):
    path = write("u.user", b"1|2|3\n\n4|5\n")
    # Line 3 of the file (line 2 is blank) has 2 of 3 fields.
    with pytest.raises(DataError, match=r"u\.user, line 3: .*expected 3 .* found 2"):
        read_table(path, sep="|", names=["a", "b", "c"])
    # A quoted comma is no separator: line 3 is the short one, not line 2.
    path = write("t.csv", b'a,b,c\n1,"x, y",3\n4,5\n')
    with pytest.raises(DataError, match=r"t\.csv, line 3: .*expected 3 .* found 2"):
        read_table(path, quoted=True)
    # A line whose last field is empty has every field: it is no error.
    path = write("items.tsv", b"a\tb\tc\n1\t2\t\n")
    table = read_table(path)
    assert table.shape == (1, 3) and np.isnan(table["c"].iloc[0])


@pytest.mark.parametrize(
    "name, content, line",
    [
        ("u.data", b"1\t2\t3\t4\n1\t3\t5\n", 2),
        ("ratings.dat", b"1::2::3::4\n1::3::5\n", 2),
        ("ratings.csv", b"userId,movieId,rating,timestamp\n1,2,3,4\n1,3,5\n", 3),
    ],
)
def test_every_loader_reports_a_short_line_alike(write, tmp_path, name, content, line):
    """ML-100K, ML-1M and the CSV releases all read through the one reader."""
    path = write(name, content)
    readers = {
        "u.data": lambda: load_ml100k(tmp_path),
        "ratings.dat": lambda: read_ml1m_ratings(path),
        "ratings.csv": lambda: read_ratings_csv(path),
    }
    message = rf"{name}, line {line}: wrong number of fields: expected 4 .* found 3"
    with pytest.raises(DataError, match=message):
        readers[name]()


def test_numbers_and_text_columns(write):
    path = write("u.user", b"1|02460|1.5\n2|55117|2\n\n3|7|z oops\n")
    table = read_table(path, sep="|", names=["user", "zip", "s"], text=("zip",))
    assert table["zip"].tolist() == ["02460", "55117", "7"]  # leading zero kept
    assert table["user"].tolist() == [1, 2, 3]
    with pytest.raises(
        DataError, match=r"line 4, column 's': expected a number, found 'z oops'"
    ):
        read_table(path, sep="|", names=["user", "zip", "s"], numeric=("s",))


def test_parquet_goes_through_the_same_checks(tmp_path):
    frame = pd.DataFrame({"userId": [1, 2, 3], "stars": ["4", "5", "five"]})
    frame.to_parquet(tmp_path / "r.parquet")
    table = read_table(tmp_path / "r.parquet", aliases={"userId": "user"})
    assert list(table.columns) == ["user", "stars"]
    with pytest.raises(DataError, match=r"r\.parquet, line 3, column 'stars'"):
        read_table(tmp_path / "r.parquet", numeric=("stars",))
    with pytest.raises(DataError, match=r"column 'item': missing column"):
        read_table(tmp_path / "r.parquet", required=("item",))
    table = read_table(tmp_path / "r.parquet", numeric=("userId",))
    assert table["userId"].dtype == np.float64


# ---- the one NAME=VALUE parser -------------------------------------------------


def test_parse_assignments_keeps_every_pair():
    assert parse_assignments(" a=1 ,, b = x ,c=,d=e=f") == {
        "a": "1", "b": "x", "c": "", "d": "e=f",
    }  # fmt: skip
    assert parse_assignments("") == {}
    for bad in ("a=1,b", "=1", "a=1, =2"):
        with pytest.raises(ValueError, match=r"expected NAME=VALUE.*got"):
            parse_assignments(bad)


def test_both_command_line_parsers_are_the_one_parser():
    from hybridrec_jax.serve import recommend

    assert recommend.parse_feature_values is assignments.parse_feature_values
    assert recommend.parse_feature_values("age=25,gender=F,zip=0") == {
        "age": "25", "gender": "F", "zip": "0",
    }  # fmt: skip
    with pytest.raises(ValueError, match="feature values: .*'age=25,gender=F'"):
        recommend.parse_feature_values("age")
    assert catalog.CSVOptions.from_text("user=uid, item=iid,rating=s").columns == {
        "user": "uid", "item": "iid", "rating": "s",
    }  # fmt: skip
    with pytest.raises(ValueError, match="column mapping: 'movie'.*not one of"):
        assignments.parse_columns("user=uid,movie=mid")


# ---- the data finder ------------------------------------------------------------


def test_find_data_looks_at_given_then_environment_then_shared(tmp_path, monkeypatch):
    # The checkout's sibling folder shared/data (../shared/data from the root).
    assert catalog.SHARED_DATA == catalog.CHECKOUT.parent / "shared" / "data"
    assert (catalog.CHECKOUT / "hybridrec_jax" / "data" / "catalog.py").is_file()
    env, shared = tmp_path / "env", tmp_path / "shared" / "data"
    (env / "ml-100k").mkdir(parents=True)
    (shared / "ml-100k").mkdir(parents=True)
    (shared / "ml-1m-partial").mkdir()
    monkeypatch.setattr(catalog, "SHARED_DATA", shared)
    monkeypatch.setenv("HYBRIDREC_DATA", str(env))
    assert find_data("ml-100k", tmp_path / "mine") == tmp_path / "mine"
    assert find_data("ml-100k") == env / "ml-100k"
    assert find_data("ml-1m") == shared / "ml-1m-partial"  # the known alternative
    monkeypatch.delenv("HYBRIDREC_DATA")
    assert find_data("ml-100k") == shared / "ml-100k"
    assert find_data("ml-25m") is None
