"""Item content for cold-start ranking: title tokens and the ML-100K release date."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hybridrec_jax.data import FeatureSpec, encode, fit_encoder, load_ml100k
from hybridrec_jax.data.encoders import FeatureEncoder
from hybridrec_jax.data.movielens import (
    ML100K_ITEM_FEATURES,
    ML100K_RELEASE_FEATURES,
    ml100k_tables,
)

TITLES = pd.DataFrame({"title": ["Toy Story (1995)", "Story of Us, The (1999)",
                                 "Toy Soldiers (1991)", None, "Cité, La (1995)",
                                 "1900 (1976)"]})  # fmt: skip


def test_tokens_vocabulary_keeps_words_in_min_count_rows():
    """Lower-case words, the trailing year removed; a word counts once per row."""
    every = fit_encoder(TITLES, [FeatureSpec("title", "tokens")])
    assert every.names == ["title~1900", "title~cité", "title~la", "title~of",
                           "title~soldiers", "title~story", "title~the",
                           "title~toy", "title~us"]  # fmt: skip
    twice = pd.DataFrame({"title": ["Story Story (1990)", "Toy (1991)", "Toy (1992)"]})
    enc = fit_encoder(twice, [FeatureSpec("title", "tokens", min_count=2)])
    assert enc.names == ["title~toy"]  # "story" twice in one row is one row
    enc = fit_encoder(TITLES, [FeatureSpec("title", "tokens", min_count=2)])
    assert enc.names == ["title~story", "title~toy"]


def test_tokens_encode_by_hand_unknown_words_set_nothing():
    enc = fit_encoder(TITLES, [FeatureSpec("title", "tokens", min_count=2)])
    later = pd.DataFrame({"title": ["TOY story 2 (1999)", "Soldiers (1991)", None,
                                    "Toy Toy (2001)"]})  # fmt: skip
    # columns: story, toy; "2", "soldiers" (below min_count) set no column;
    # a word twice in a title is still 1; missing text is the empty set.
    assert encode(later, enc).tolist() == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0],
                                           [0.0, 1.0]]  # fmt: skip


def test_tokens_encoder_round_trips_through_json():
    enc = fit_encoder(TITLES, [FeatureSpec("title", "tokens", min_count=2)])
    again = FeatureEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert again.names == enc.names
    np.testing.assert_array_equal(encode(TITLES, again), encode(TITLES, enc))


def test_release_date_in_decimal_years(ml100k_dir):
    _, _, items = ml100k_tables(ml100k_dir)
    by_release = dict(zip(items["release"], items["released"], strict=False))
    assert by_release["01-Jan-1995"] == 1995.0
    assert by_release["24-May-1996"] - 1996 == pytest.approx(144 / 366)  # leap year
    assert by_release["14-Mar-1997"] - 1997 == pytest.approx(72 / 365)
    assert items["released"].isna().sum() == items["release"].isna().sum() == 1


def test_ml100k_release_features_are_default_and_optional(ml100k_dir):
    before = [f for f in ML100K_ITEM_FEATURES if f not in ML100K_RELEASE_FEATURES]
    assert ML100K_ITEM_FEATURES == before + ML100K_RELEASE_FEATURES
    plain = load_ml100k(ml100k_dir, item_features=before)
    release = load_ml100k(ml100k_dir)
    added = list(release.item_feature_names[len(plain.item_feature_names) :])
    assert added == ["released", "released_missing"] + [
        f"released_bucket{b}" for b in range(8)
    ]
    np.testing.assert_array_equal(
        release.item_features[:, : len(plain.item_feature_names)], plain.item_features
    )
    # 1 Jan 1995 falls before the first edge (1996), 1 Jan 1997 on the third
    released = release.item_features[:, len(plain.item_feature_names) :]
    titles = list(release.item_titles)
    for title, bucket in (("Toy Story (1995)", 0), ("Titanic (1997)", 3)):
        assert released[titles.index(title), 2:].tolist() == [
            float(b == bucket) for b in range(8)
        ]
