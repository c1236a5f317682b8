"""The built-in synthetic data set: offline, seeded, with planted structure.

The planted rating of user u for item i is

    r*_ui = mu + b_u + b_i + p_u . q_i + g_u . x_i^genre + c_year(i) + noise,

where p_u, q_i are latent factors, g_u = G[gender_u] + age_u * A is a taste for
genres that depends on the user's content, and c_year is a small effect of the
item's year. Observed ratings are r*_ui rounded and clipped to 1..5. Items are
drawn with a Zipf-like popularity skew and users with a log-normal activity, so
the raw tables look like MovieLens: categorical, multi-hot and numeric columns,
some of them missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureSpec
from hybridrec_jax.data.tables import Preparation, from_tables

GENRES = (
    "action", "comedy", "drama", "horror", "romance",
    "scifi", "thriller", "animation", "documentary", "western",
)  # fmt: skip
OCCUPATIONS = ("student", "engineer", "artist", "doctor", "educator", "retired")

USER_FEATURES = [
    FeatureSpec("age", "numeric"),
    FeatureSpec("age", "bucket", edges=(18.0, 25.0, 35.0, 45.0, 56.0)),
    FeatureSpec("gender", "categorical"),
    FeatureSpec("occupation", "categorical"),
]
ITEM_FEATURES = [
    FeatureSpec("genres", "multihot"),
    FeatureSpec("year", "numeric"),
]


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and strengths of the planted effects (defaults: about ML-100K)."""

    n_users: int = 943
    n_items: int = 1682
    n_ratings: int = 100_000
    latent_dim: int = 8
    latent_scale: float = 0.5
    content_scale: float = 0.6
    user_bias_scale: float = 0.35
    item_bias_scale: float = 0.45
    noise: float = 0.6
    popularity_exponent: float = 0.9
    missing_fraction: float = 0.05
    seed: int = 0

    @classmethod
    def tiny(cls) -> SyntheticConfig:
        return cls(n_users=60, n_items=80, n_ratings=2_000)


def synthetic_tables(
    cfg: SyntheticConfig = SyntheticConfig(),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Raw (ratings, users, items) tables with planted structure.

    >>> r, u, i = synthetic_tables(SyntheticConfig.tiny())
    >>> len(r), len(u), len(i)
    (2000, 60, 80)
    >>> bool(r["rating"].between(1, 5).all())
    True
    """
    rng = np.random.default_rng(cfg.seed)
    n_u, n_i, n_g = cfg.n_users, cfg.n_items, len(GENRES)

    age = rng.integers(16, 70, n_u).astype(float)
    gender = rng.choice(["F", "M"], n_u)
    occupation = rng.choice(OCCUPATIONS, n_u).astype(object)
    genre_flags = rng.random((n_i, n_g)) < 0.18
    genre_flags[np.arange(n_i), rng.integers(0, n_g, n_i)] = True  # >= 1 genre
    year = rng.integers(1950, 2001, n_i).astype(float)

    # Planted effects.
    p = rng.normal(0, cfg.latent_scale / np.sqrt(cfg.latent_dim), (n_u, cfg.latent_dim))
    q = rng.normal(0, 1.0, (n_i, cfg.latent_dim))
    gender_taste = rng.normal(0, cfg.content_scale, (2, n_g))  # (2, G)
    age_taste = rng.normal(0, cfg.content_scale, n_g)  # (G,)
    age_z = (age - age.mean()) / age.std()
    taste = gender_taste[(gender == "M").astype(int)] + age_z[:, None] * age_taste
    year_effect = 0.3 * (2000 - year) / 50.0
    b_u = rng.normal(0, cfg.user_bias_scale, n_u)
    b_i = rng.normal(0, cfg.item_bias_scale, n_i)

    # Who rates what: popularity skew on items, log-normal activity on users.
    popularity = 1.0 / np.arange(1, n_i + 1) ** cfg.popularity_exponent
    popularity = popularity[rng.permutation(n_i)]
    popularity /= popularity.sum()
    activity = rng.lognormal(0.0, 0.8, n_u)
    per_user = np.maximum(
        np.minimum(np.round(activity / activity.sum() * cfg.n_ratings), n_i), 1
    ).astype(int)
    # Fix the total to exactly n_ratings (take from or give to the most active).
    order = np.argsort(-per_user)
    surplus = int(per_user.sum() - cfg.n_ratings)
    k = 0
    while surplus != 0:
        u = order[k % n_u]
        step = 1 if surplus > 0 else -1
        if 1 <= per_user[u] - step <= n_i:
            per_user[u] -= step
            surplus -= step
        k += 1
    users = np.repeat(np.arange(n_u), per_user)
    items = np.concatenate(
        [rng.choice(n_i, size=n, replace=False, p=popularity) for n in per_user]
    )

    signal = (
        3.6
        + b_u[users]
        + b_i[items]
        + np.einsum("nk,nk->n", p[users], q[items])
        + np.einsum("ng,ng->n", taste[users], genre_flags[items]) / 2.0
        + year_effect[items]
    )
    rating = np.clip(np.round(signal + rng.normal(0, cfg.noise, len(users))), 1, 5)
    timestamp = 880_000_000 + rng.integers(0, 30_000_000, len(users))

    # Missing values in the side tables, as in real data.
    def hide(n: int) -> np.ndarray:
        return rng.random(n) < cfg.missing_fraction

    age[hide(n_u)] = np.nan
    occupation[hide(n_u)] = None
    year[hide(n_i)] = np.nan
    genre_lists = [[GENRES[g] for g in np.flatnonzero(row)] for row in genre_flags]
    for i in np.flatnonzero(hide(n_i)):
        genre_lists[i] = None

    ratings = pd.DataFrame(
        {"user": users + 1, "item": items + 1, "rating": rating, "timestamp": timestamp}
    )
    user_table = pd.DataFrame(
        {"user": np.arange(1, n_u + 1), "age": age, "gender": gender,
         "occupation": occupation}
    )  # fmt: skip
    item_table = pd.DataFrame(
        {"item": np.arange(1, n_i + 1), "genres": genre_lists, "year": year,
         "title": [f"Synthetic item {i + 1}" for i in range(n_i)]}
    )  # fmt: skip
    return ratings, user_table, item_table


def prepare_synthetic(
    cfg: SyntheticConfig = SyntheticConfig(), **options
) -> tuple[Dataset, Preparation]:
    """The synthetic tables prepared into (Dataset, Preparation), ratings 1..5."""
    ratings, users, items = synthetic_tables(cfg)
    return from_tables(
        ratings,
        users,
        items,
        user_features=USER_FEATURES,
        item_features=ITEM_FEATURES,
        rating_range=(1.0, 5.0),
        title_column="title",
        name="synthetic",
        **options,
    )


def load_synthetic(cfg: SyntheticConfig = SyntheticConfig()) -> Dataset:
    """The synthetic tables prepared into a Dataset (ratings 1..5)."""
    return prepare_synthetic(cfg)[0]
