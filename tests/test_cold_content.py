"""Item content for cold-start ranking: title tokens."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hybridrec_jax.data import FeatureSpec, encode, fit_encoder
from hybridrec_jax.data.encoders import FeatureEncoder

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
