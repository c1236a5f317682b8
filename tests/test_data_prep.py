"""Data preparation: loaders on tiny fixture files, pipeline steps, splits, bad
input, download from a loopback server, and the ``data`` command."""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import http.server
import io
import json
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridrec_jax.cli import main
from hybridrec_jax.data import (
    DataError,
    Dataset,
    FeatureSpec,
    SyntheticConfig,
    cold_start_split,
    download,
    encode,
    fit_encoder,
    fit_features,
    from_tables,
    held_out_mask,
    k_core,
    kfold_split,
    leave_one_out,
    load_interactions,
    load_ml1m,
    load_movielens_csv,
    load_ncf_ml1m,
    prepare_interactions,
    prepare_synthetic,
    time_split,
    to_implicit,
)
from hybridrec_jax.data.ml1m import read_ml1m_ratings, read_users_dat
from hybridrec_jax.data.movielens_csv import read_movies_csv, read_ratings_csv
from hybridrec_jax.experiment import load_split, prepare_split


def _materialise_fixtures() -> Path:
    """tests/fixtures copied to a temporary folder with their real file names.

    Files named like MovieLens's own (ratings.dat, users.dat, ...) are stored
    with a ``.fixture`` suffix, so that nobody mistakes these tiny hand-written
    files for the real, non-redistributable data; the copy drops the suffix.
    """
    source = Path(__file__).resolve().parent / "fixtures"
    target = Path(tempfile.mkdtemp(prefix="hybridrec-fixtures-"))
    atexit.register(shutil.rmtree, target, True)
    for path in source.rglob("*"):
        if path.is_file():
            relative = path.relative_to(source)
            if relative.suffix == ".fixture":
                relative = relative.with_suffix("")
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
    return target


FIXTURES = _materialise_fixtures()
BAD = FIXTURES / "bad"

# ---- loaders on fixture files ------------------------------------------------


def test_ml1m_reads_the_original_ratings_dat():
    ds = load_ml1m(FIXTURES / "ml1m", FIXTURES / "ml1m" / "ratings.dat")
    assert ds.n_interactions == 12 and ds.n_users == 4
    assert ds.n_items == 5  # every movie of movies.dat, rated or not
    assert ds.timestamp is not None and ds.timestamp[0] == 978300760
    assert ds.rating_range == (1.0, 5.0)
    assert "Misérables, Les (1995)" in ds.item_titles  # latin-1
    assert {"gender=F", "age=56", "occupation=16", "zip_region=0"} <= set(
        ds.user_feature_names
    )
    genres = [n for n in ds.item_feature_names if n.startswith("genres=")]
    assert "genres=Children's" in genres and len(genres) == 8
    year = ds.item_features[:, ds.item_feature_names.index("year_missing")]
    assert year.tolist() == [0, 0, 0, 1, 0]  # "Untitled" has no year: imputed


def test_ml1m_without_timestamps_refuses_time_splits():
    ds = load_ml1m(FIXTURES / "ml1m", FIXTURES / "ml1m" / "ratings_no_timestamp.csv")
    dat = load_ml1m(FIXTURES / "ml1m", FIXTURES / "ml1m" / "ratings.dat")
    assert ds.timestamp is None
    np.testing.assert_array_equal(ds.rating, dat.rating)
    for split in (leave_one_out, time_split):
        with pytest.raises(DataError, match="needs timestamps.*has none"):
            split(ds)


def test_movielens_csv_release_half_stars_quotes_and_tags():
    ds = load_movielens_csv(FIXTURES / "ml-csv", tags=True, title_tokens=True)
    assert ds.rating_range == (0.5, 5.0)
    assert sorted(set(ds.rating.tolist())) == [0.5, 1.5, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert "American President, The (1995)" in ds.item_titles  # quoted comma
    assert ds.user_features.shape == (3, 0)
    names = ds.item_feature_names
    genre = [n for n in names if n.startswith("genres=")]
    assert "genres=(no genres listed)" not in genre and "genres=Children" in genre
    row = list(ds.item_ids).index(4)  # no genres, no year
    assert ds.item_features[row, [names.index(g) for g in genre]].sum() == 0
    assert ds.item_features[row, names.index("year_missing")] == 1
    tags = [k for k, n in enumerate(names) if n.startswith("tags#")]
    title = [k for k, n in enumerate(names) if n.startswith("title#")]
    assert len(tags) == 64 and len(title) == 64
    # "pixar" and "Pixar" are one tag; movie 2 has no tags.
    assert ds.item_features[0, tags].sum() == 1
    assert ds.item_features[1, tags].sum() == 0
    assert ds.item_features[:, title].sum(axis=1).min() >= 2


def test_generic_loader_with_mapping_side_tables_and_parquet(tmp_path):
    mapping = {"user": "uid", "item": "iid", "rating": "stars", "timestamp": "when"}
    ds, prep = prepare_interactions(
        FIXTURES / "generic" / "interactions.csv",
        FIXTURES / "generic" / "users.csv",
        FIXTURES / "generic" / "items.tsv",
        columns=mapping,
        rating_range=(1, 10),
    )
    assert ds.rating_range == (1.0, 10.0) and ds.n_interactions == 7
    assert list(ds.user_ids) == ["u1", "u2", "u3"]
    assert ds.user_feature_names == (
        "age", "age_missing", "country=DE", "country=FR", "country=unknown",
    )  # fmt: skip
    assert ds.item_feature_names[2:] == ("categories=book", "categories=new")
    assert any("dropped unused columns ['comment']" in line for line in ds.report)
    assert prep.user_encoder.features[0].fill_value == 38.0  # median of 31, 45
    # The same table as Parquet and as a DataFrame gives the same Dataset.
    table = pd.read_csv(FIXTURES / "generic" / "interactions.csv")
    table.to_parquet(tmp_path / "r.parquet")
    for source in (tmp_path / "r.parquet", table):
        other = load_interactions(source, columns=mapping, rating_range=(1, 10))
        np.testing.assert_array_equal(other.rating, ds.rating)
        np.testing.assert_array_equal(other.user, ds.user)


def test_generic_loader_without_ratings_is_implicit():
    table = pd.DataFrame({"u": [1, 1, 2], "i": [5, 6, 5]})
    ds = load_interactions(table, columns={"user": "u", "item": "i"})
    assert ds.rating.tolist() == [1.0, 1.0, 1.0] and ds.rating_range == (0.0, 1.0)


def test_ncf_loader_on_fixture():
    data = load_ncf_ml1m(FIXTURES / "ncf", FIXTURES / "ml1m")
    train = data.train
    assert train.n_interactions == 8 and train.n_users == 4 and train.n_items == 4
    assert train.rating_range == (0.0, 1.0) and set(train.rating.tolist()) == {1.0}
    # index = NCF id; user_ids/item_ids hold the ML-1M UserID and MovieID.
    assert train.user_ids.tolist() == [1, 2, 3, 4]
    assert train.item_ids.tolist() == [1, 2, 3, 4]
    assert train.item_titles[2] == "Heat (1995)"  # only in the test file
    assert data.test_items.tolist() == [2, 2, 2, 3]
    assert data.test_negatives.shape == (4, 99)
    assert data.test_negatives.dtype == np.int64
    assert (data.test_negatives[3] == 3).sum() == 49  # kept as in the file


# ---- pipeline steps: nothing lost or invented silently ------------------------


def messy_tables():
    ratings = pd.DataFrame(
        {
            "user": [1, 1, 1, 2, 2, None, 3, 4, 4, 5, 1, 6],
            "item": [10, 10, 11, 10, 12, 10, 11, 12, 10, 13, 12, 10],
            "rating": [4, 2, 5, 3, "x", 4, 9, 1, 5, 3, 4, 2],
            "timestamp": list(range(12)),
            "note": ["unused"] * 12,
        }
    )
    users = pd.DataFrame({"user": [1, 2, 3, 4, 6], "age": [20.0, None, 40, 50, 60]})
    items = pd.DataFrame(
        {"item": [10, 11, 12, 99], "genres": [["a"], ["a", "b"], None, ["c"]]}
    )
    return ratings, users, items


@pytest.mark.parametrize("duplicates", ["last", "mean"])
@pytest.mark.parametrize("missing_side", ["drop", "impute"])
def test_rows_are_conserved(duplicates, missing_side):
    ratings, users, items = messy_tables()
    ds, prep = from_tables(
        ratings, users, items,
        user_features=[FeatureSpec("age", "numeric")],
        item_features=[FeatureSpec("genres", "multihot")],
        rating_range=(1, 5), duplicates=duplicates, missing_side=missing_side,
        min_user_interactions=2,
    )  # fmt: skip
    assert prep.n_read == 12
    assert prep.n_read == ds.n_interactions + sum(prep.dropped.values())
    assert prep.dropped["missing user or item id"] == 1  # None
    assert prep.dropped["rating is not a number"] == 1  # "x"
    assert prep.dropped["rating outside 1..5"] == 1
    rule = "the latest by timestamp" if duplicates == "last" else "the mean rating"
    assert prep.dropped[f"duplicate (user, item), kept {rule}"] == 1
    assert any("dropped unused columns ['note']" in line for line in ds.report)
    assert ds.report[0] == "read 12 interactions"
    assert ds.report[-1].startswith(f"kept {ds.n_interactions} interactions of 12")
    first = (ds.user_ids[ds.user] == 1) & (ds.item_ids[ds.item] == 10)
    assert ds.rating[first].tolist() == ([2.0] if duplicates == "last" else [3.0])
    assert 99 in ds.item_ids  # an unrated item keeps its index
    if missing_side == "drop":
        assert prep.dropped["user or item without a side-table row"] == 1  # user 5
    else:
        assert 5 in ds.user_ids


def test_invalid_rows_can_be_refused():
    ratings, users, items = messy_tables()
    with pytest.raises(DataError, match="row 5, .*invalid interaction"):
        from_tables(ratings, users, items, rating_range=(1, 5), invalid="error")


def test_k_core_and_implicit_conversion():
    r = pd.DataFrame(
        {"user": [1, 1, 1, 2, 2, 3], "item": [1, 2, 3, 1, 2, 1],
         "rating": [5.0, 1.0, 4.0, 4.0, 2.0, 5.0]}
    )  # fmt: skip
    kept, rounds = k_core(r, min_user=2, min_item=2)
    assert sorted(zip(kept["user"], kept["item"], strict=True)) == [
        (1, 1), (1, 2), (2, 1), (2, 2),
    ]  # fmt: skip
    assert rounds == 2
    positives, dropped = to_implicit(r, threshold=4.0)
    assert len(positives) == 4 and dropped == {"rating below 4 (implicit threshold)": 2}
    labelled, _ = to_implicit(r, threshold=4.0, below="negative")
    assert labelled["rating"].tolist() == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    ds, prep = from_tables(r, implicit=True, implicit_threshold=4.0)
    assert ds.rating_range == (0.0, 1.0) and ds.n_interactions == 4
    assert prep.n_read == 4 + sum(prep.dropped.values())


def test_vectorised_encode_matches_a_row_loop():
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "c": rng.choice(["x", "y", "z", None], 200),
            "m": [None if k % 7 == 0 else list(rng.choice(list("abcd"), k % 3))
                  for k in range(200)],
            "n": rng.normal(size=200),
        }
    )  # fmt: skip
    specs = [FeatureSpec("c", "categorical"), FeatureSpec("m", "multihot"),
             FeatureSpec("n", "bucket", edges=(-1.0, 0.0, 1.0))]  # fmt: skip
    enc = fit_encoder(table.iloc[:100], specs)
    x = encode(table, enc)
    cats = enc.features[0].categories
    tags = enc.features[1].categories
    for r in range(200):
        c = table["c"].iloc[r]
        want_c = np.zeros(len(cats))
        want_c[cats.index(c if c in cats else "unknown")] = 1
        want_m = np.zeros(len(tags))
        for t in table["m"].iloc[r] or []:
            want_m[tags.index(t)] = 1
        want_b = np.zeros(4)
        want_b[np.searchsorted([-1.0, 0.0, 1.0], table["n"].iloc[r], "right")] = 1
        np.testing.assert_array_equal(x[r], np.concatenate([want_c, want_m, want_b]))


# ---- splits: seeded partitions that never leak test data into training ---------


@pytest.fixture(scope="module")
def synthetic():
    cfg = SyntheticConfig(n_users=200, n_items=300, n_ratings=8000)
    return prepare_synthetic(cfg)


def _is_partition(train, test, n):
    assert len(np.intersect1d(train, test)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(n))


def test_leave_one_out_holds_out_each_users_latest(synthetic):
    ds, _ = synthetic
    train, test = leave_one_out(ds)
    _is_partition(train, test, ds.n_interactions)
    assert len(test) == len(np.unique(ds.user))  # every user has >= 2 ratings
    latest = pd.Series(ds.timestamp[train]).groupby(ds.user[train]).max()
    assert (ds.timestamp[test] >= latest.loc[ds.user[test]].to_numpy()).all()


def _toy(user, timestamp=None, item=None, n_items=None) -> Dataset:
    """A Dataset of just these interactions (no content features)."""
    user = np.asarray(user)
    item = np.arange(len(user)) if item is None else np.asarray(item)
    n_users, n_items = int(user.max()) + 1, n_items or int(item.max()) + 1
    return Dataset(
        user=user,
        item=item,
        rating=np.ones(len(user), np.float32),
        user_features=np.zeros((n_users, 0), np.float32),
        item_features=np.zeros((n_items, 0), np.float32),
        user_ids=np.arange(n_users),
        item_ids=np.arange(n_items),
        timestamp=None if timestamp is None else np.asarray(timestamp, np.int64),
        name="toy",
    )


def test_leave_one_out_ties_and_single_interaction_users():
    #        row:   0  1  2  3  4  5  6  7
    ds = _toy(user=[0, 0, 0, 1, 1, 2, 3, 3], timestamp=[5, 9, 9, 2, 1, 7, 4, 4])
    kept, held = leave_one_out(ds)
    # user 0: rows 1 and 2 tie at t=9, the later row (2) goes; user 1: row 3
    # (t=2 > 1); user 2 has one interaction and keeps it; user 3: a tie, row 7.
    assert held.tolist() == [2, 3, 7]
    assert kept.tolist() == [0, 1, 4, 5, 6]
    # With timestamps the seed changes nothing: the rule is deterministic.
    assert leave_one_out(ds, seed=3)[1].tolist() == [2, 3, 7]


def test_leave_one_out_equals_a_per_user_loop(synthetic):
    ds, _ = synthetic
    coarse = dataclasses.replace(ds, timestamp=ds.timestamp // 10**7)  # many ties
    assert len(np.unique(coarse.timestamp)) < 100
    want = []
    for user in np.unique(coarse.user):
        rows = np.flatnonzero(coarse.user == user)
        if len(rows) >= 2:
            want.append(max(rows, key=lambda r: (coarse.timestamp[r], r)))
    kept, held = leave_one_out(coarse)
    assert held.tolist() == sorted(want)
    _is_partition(kept, held, ds.n_interactions)


def test_leave_one_out_without_timestamps_needs_a_seed():
    ds = _toy(user=[0, 0, 0, 0, 1, 2, 2])
    with pytest.raises(DataError, match="needs timestamps.*pass seed="):
        leave_one_out(ds)
    kept, held = leave_one_out(ds, seed=0)
    assert len(held) == 2 and len(kept) == 5  # users 0 and 2; user 1 keeps its row
    assert ds.user[held].tolist() == [0, 2]
    _is_partition(kept, held, 7)
    np.testing.assert_array_equal(leave_one_out(ds, seed=0)[1], held)  # reproducible
    # Uniform over a user's rows: over 400 seeds each of user 0's 4 rows is held
    # out about 100 times (binomial sd 8.7), and user 1's row never.
    counts = np.bincount(
        [leave_one_out(ds, seed=s)[1][0] for s in range(400)], minlength=7
    )
    assert counts[4:].sum() == 0
    assert counts[:4].min() > 60 and counts[:4].max() < 140, counts


def test_time_split_trains_strictly_before_testing(synthetic):
    ds, _ = synthetic
    train, test = time_split(ds, 0.25)
    _is_partition(train, test, ds.n_interactions)
    assert ds.timestamp[train].max() < ds.timestamp[test].min()
    assert abs(len(test) / ds.n_interactions - 0.25) < 0.01


@pytest.mark.parametrize("side", ["item", "user"])
def test_cold_start_split_hides_whole_items_or_users(synthetic, side):
    ds, _ = synthetic
    train, test = cold_start_split(ds, side, 0.2, seed=1)
    _is_partition(train, test, ds.n_interactions)
    ids = ds.item if side == "item" else ds.user
    assert len(np.intersect1d(ids[train], ids[test])) == 0
    again, _ = cold_start_split(ds, side, 0.2, seed=1)
    other, _ = cold_start_split(ds, side, 0.2, seed=2)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_cold_start_split_draws_the_documented_ids():
    # Items 0..9 occur twice each; items 10 and 11 never occur, so never drawn.
    ds = _toy(user=np.zeros(20, int), item=np.repeat(np.arange(10), 2), n_items=12)
    train, test = cold_start_split(ds, "item", 0.2, seed=0)
    # n = max(1, round(0.2 * 10)) = 2 ids; default_rng(0).choice(10, 2,
    # replace=False) = [7, 6], pinned from the former serve.coldstart
    # cold_item_split (a permutation would give [4, 6]): the cold-start
    # benchmark keeps its item set.
    assert sorted(set(ds.item[test].tolist())) == [6, 7]
    assert test.tolist() == [12, 13, 14, 15]
    _is_partition(train, test, 20)
    cold = held_out_mask(ds.item[test], ds.n_items)
    assert np.flatnonzero(cold).tolist() == [6, 7] and cold.shape == (12,)
    _, test = cold_start_split(ds, "item", 0.01, seed=0)  # round(0.1) = 0 -> 1
    assert len(np.unique(ds.item[test])) == 1
    with pytest.raises(ValueError, match="leave none to train"):
        cold_start_split(ds, "item", 0.99, seed=0)  # round(9.9) = 10 of 10
    with pytest.raises(ValueError, match="side must be"):
        cold_start_split(ds, "movie", 0.2, seed=0)


def test_held_out_mask():
    assert held_out_mask(np.array([3, 0, 3]), 5).tolist() == [
        True, False, False, True, False,
    ]  # fmt: skip
    assert not held_out_mask(np.array([], int), 2).any()


def test_kfold_covers_every_row_once(synthetic):
    ds, _ = synthetic
    tests = [kfold_split(ds.n_interactions, 5, k, seed=0)[1] for k in range(5)]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(ds.n_interactions))
    assert max(map(len, tests)) - min(map(len, tests)) <= 1


def test_encoders_are_fitted_on_training_items_only(synthetic):
    """Changing cold test items' side rows changes nothing fitted on training."""
    ds, prep = synthetic
    train, test = cold_start_split(ds, "item", 0.3, seed=0)
    refit, prep2 = fit_features(ds, prep, train)
    test_items = np.unique(ds.item[test])
    items = prep.items.copy()
    items.loc[test_items, "year"] = 3000.0
    items.loc[test_items, "genres"] = pd.Series(
        [["never-seen"]] * len(test_items), index=test_items, dtype=object
    )
    poisoned = dataclasses.replace(prep, items=items)
    refit_p, prep3 = fit_features(ds, poisoned, train)
    assert prep2.item_encoder.to_dict() == prep3.item_encoder.to_dict()
    train_items = np.unique(ds.item[train])
    np.testing.assert_array_equal(
        refit.item_features[train_items], refit_p.item_features[train_items]
    )
    # A whole-table fit would have moved the mean year.
    whole = fit_encoder(items, list(prep.item_specs))
    assert whole.features[1].mean != prep3.item_encoder.features[1].mean


def test_load_split_reports_and_splits(tmp_path):
    train, test = load_split(
        "ml-1m", FIXTURES / "ml1m", "cold-users", 0.25, seed=0
    )  # ratings.dat is picked first: it has timestamps
    assert train.n_interactions + test.n_interactions == 12
    assert len(np.intersect1d(train.user, test.user)) == 0
    assert train.report[-1].startswith("split cold-users:")
    assert any("refitted" in line for line in train.report)
    # prepare_split hands back the encoders the training features were built with.
    train, _, prep = prepare_split("ml-1m", FIXTURES / "ml1m", "cold-users", 0.25)
    np.testing.assert_array_equal(
        encode(prep.users, prep.user_encoder), train.user_features
    )
    assert prep.user_encoder.names == list(train.user_feature_names)


# ---- bad input: a tiny fixture file for each case ---------------------------

BAD_CASES = [
    (read_ratings_csv, "missing_column/ratings.csv",
     r"ratings\.csv, column 'rating': missing column"),
    (read_ratings_csv, "wrong_separator/ratings.csv",
     r"ratings\.csv.*holds ';': is the separator ','"),
    (read_ml1m_ratings, "wrong_separator_dat/ratings.dat",
     r"ratings\.dat, line 1, column 'user'.*separator '::'"),
    (read_ml1m_ratings, "too_many_fields/ratings.dat",
     r"ratings\.dat, line 2: wrong number of fields"),
    (read_ratings_csv, "non_numeric_rating/ratings.csv",
     r"line 3, column 'rating': expected a number, found 'four'"),
    (read_ratings_csv, "out_of_range_rating/ratings.csv",
     r"line 3, column 'rating': rating 6.0 outside 0.5..5"),
    (read_ratings_csv, "nan_id/ratings.csv", r"line 3, column 'user': missing id"),
    (read_users_dat, "duplicate_side_rows/users.dat",
     r"users\.dat, line 3, column 'user': duplicate id 2"),
    (read_movies_csv, "bad_encoding/movies.csv",
     r"movies\.csv, line 3: bytes not valid utf-8"),
    (read_ratings_csv, "empty/ratings.csv", r"ratings\.csv: file is empty"),
    (read_ratings_csv, "header_only/ratings.csv",
     r"ratings\.csv: the file has no data rows"),
    (read_ratings_csv, "no_such_dir/ratings.csv", r"ratings\.csv: file not found"),
]  # fmt: skip


@pytest.mark.parametrize(
    "reader, name, message", BAD_CASES, ids=[c[1].split("/")[0] for c in BAD_CASES]
)
def test_bad_input_names_file_row_and_column(reader, name, message):
    with pytest.raises(DataError, match=message):
        reader(BAD / name)


def test_bad_tables_in_memory():
    with pytest.raises(DataError, match="no column 'uid' for user"):
        load_interactions(pd.DataFrame({"u": [1]}), columns={"user": "uid"})
    with pytest.raises(DataError, match="empty"):
        load_interactions(pd.DataFrame({"user": [], "item": []}))
    users = pd.DataFrame({"user": ["1"], "age": [3.0]})
    with pytest.raises(DataError, match="no user id of the ratings table"):
        from_tables(pd.DataFrame({"user": [1], "item": [1], "rating": [1.0]}), users)


# ---- download: loopback server only -------------------------------------------


def _zip_with(folder: str, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, content in files.items():
            zipped.writestr(f"{folder}/{name}", content)
    return buffer.getvalue()


@pytest.fixture
def loopback(tmp_path):
    """An http.server on 127.0.0.1 serving tmp_path/www, stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_download_checks_sha256_and_unpacks(loopback, tmp_path):
    root, base = loopback
    archive = _zip_with("ml-100k", {"u.info": b"1 users\n"})
    (root / "ml-100k.zip").write_bytes(archive)
    digest = hashlib.sha256(archive).hexdigest()
    cache = tmp_path / "cache"
    url = f"{base}/ml-100k.zip"
    with pytest.raises(DataError, match="no SHA-256 is known for ml-100k"):
        download("ml-100k", cache_dir=cache, url=url)
    with pytest.raises(DataError, match="SHA-256 mismatch.*removed"):
        download("ml-100k", cache_dir=cache, url=url, sha256="0" * 64)
    assert not list(cache.glob("*.zip*"))
    folder = download("ml-100k", cache_dir=cache, url=url, sha256=digest, timeout=5)
    assert (folder / "u.info").read_bytes() == b"1 users\n"
    (root / "ml-100k.zip").unlink()  # cached: no second fetch
    assert download("ml-100k", cache_dir=cache, url=url, sha256=digest) == folder
    with pytest.raises(DataError, match="download failed"):
        download("ml-1m", cache_dir=cache, url=f"{base}/nothing.zip", sha256=digest)


def test_download_offline_from_a_local_archive(tmp_path, capsys):
    archive = _zip_with("ml-1m", {"users.dat": b"1::F::1::10::48067\n"})
    local = tmp_path / "local"
    local.mkdir()
    (local / "ml-1m.zip").write_bytes(archive)
    digest = hashlib.sha256(archive).hexdigest()
    argv = ["data", "download", "ml-1m", "--data-dir", str(local),
            "--cache-dir", str(tmp_path / "cache"), "--sha256", digest]  # fmt: skip
    assert main(argv) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "users.dat").is_file()
    assert main([*argv[:-1], "f" * 64]) == 2
    assert "SHA-256 mismatch" in capsys.readouterr().err


# ---- the data command ------------------------------------------------------------


def test_data_prepare_prints_the_report(capsys):
    argv = ["data", "prepare", "csv", "--data-dir",
            str(FIXTURES / "generic" / "interactions.csv"),
            "--columns", "user=uid,item=iid,rating=stars,timestamp=when",
            "--users-file", str(FIXTURES / "generic" / "users.csv"),
            "--rating-range", "1,10", "--split", "time",
            "--test-fraction", "0.3"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "read 7 interactions" in out and "split time: 5 train / 2 test" in out
    assert "rating range 1..10" in out
    assert main(["data", "prepare", "ml-1m", "--data-dir", str(BAD / "empty"),
                 "--split", "random"]) == 2  # fmt: skip
    assert "ratings.csv: file is empty" in capsys.readouterr().err


def test_train_on_a_ten_point_scale_csv(tmp_path, capsys):
    """`hybridrec train --dataset csv` with a 2..10 scale: clipped to that range."""
    ratings, users, _ = prepare_tables_on_ten_point_scale()
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    users.to_csv(tmp_path / "users.csv", index=False)
    out = tmp_path / "report.json"
    argv = ["train", "--dataset", "csv", "--data-dir", str(tmp_path),
            "--columns", "user=uid,item=iid,rating=score",
            "--users-file", "users.csv", "--rating-range", "2,10",
            "--epochs", "2", "--embedding-dim", "4", "--hidden-dims", "8",
            "--dot-dim", "4", "--batch-size", "512", "--no-progress",
            "--output-json", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "read 2000 interactions" in printed and "split random" in printed
    report = json.loads(out.read_text())
    assert 0 < report["test_rmse"] < 4.0 and report["n_test"] == 400
    assert report["preparation"][0] == "read 2000 interactions"


def prepare_tables_on_ten_point_scale():
    from hybridrec_jax.data import synthetic_tables

    ratings, users, items = synthetic_tables(SyntheticConfig.tiny())
    ratings = ratings.rename(columns={"user": "uid", "item": "iid"})
    ratings["score"] = ratings.pop("rating") * 2
    return ratings, users.rename(columns={"user": "uid"}), items


def test_in_memory_int_ids_with_a_missing_one_match_an_int_side_table():
    """A None among int ids makes pandas store them as objects; they are still
    the ints of the side table, not text."""
    ratings = pd.DataFrame(
        {"user": pd.Series([1, 2, None, 2], dtype=object), "item": [5, 5, 5, 6],
         "rating": [4.0, 3.0, 2.0, 5.0]}
    )  # fmt: skip
    users = pd.DataFrame({"user": [1, 2], "age": [30.0, 40.0]})
    dataset, prep = from_tables(
        ratings, users, None, user_features=[FeatureSpec("age", "numeric")]
    )
    assert dataset.n_interactions == 3 and dataset.n_users == 2
    assert sum(prep.dropped.values()) == 1
