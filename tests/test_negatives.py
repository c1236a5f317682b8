"""Negative sampling: membership by binary search, collisions, distributions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax.train.negatives import (
    is_positive,
    make_cdf,
    positive_keys,
    sample_items,
    sample_negatives,
    sampling_weights,
)


def random_positives(seed=0, n_users=30, n_items=40, density=0.1):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(mask)
    return users, items, {(int(u), int(i)) for u, i in zip(users, items, strict=True)}


def test_is_positive_matches_set_membership():
    users, items, pairs = random_positives()
    keys = positive_keys(users, items, 40)
    rng = np.random.default_rng(1)
    qu, qi = rng.integers(0, 30, 500), rng.integers(0, 40, 500)
    got = np.asarray(is_positive(keys, jnp.asarray(qu), jnp.asarray(qi), 40))
    expected = [(int(u), int(i)) in pairs for u, i in zip(qu, qi, strict=True)]
    assert got.tolist() == expected


def test_negatives_avoid_positives_after_retries():
    users, items, pairs = random_positives(density=0.1)
    keys = positive_keys(users, items, 40)
    cdf = make_cdf(np.ones(40))
    query = jnp.asarray(np.repeat(np.arange(30), 50))
    negatives = sample_negatives(jax.random.key(0), query, keys, cdf, 4, n_retries=8)
    assert negatives.shape == (1500, 4)
    assert 0 <= int(negatives.min()) and int(negatives.max()) < 40
    collisions = sum(
        (int(u), int(j)) in pairs
        for u, row in zip(np.asarray(query), np.asarray(negatives), strict=True)
        for j in row
    )
    assert collisions == 0  # chance ~ 6000 * 0.1^9
    raw = sample_negatives(jax.random.key(0), query, keys, cdf, 4, n_retries=0)
    raw_collisions = sum(
        (int(u), int(j)) in pairs
        for u, row in zip(np.asarray(query), np.asarray(raw), strict=True)
        for j in row
    )
    assert raw_collisions > 300  # ~10% without the check: the retries do the work


def test_zero_weight_items_are_never_drawn():
    allowed = np.arange(20) % 3 == 0
    cdf = make_cdf(sampling_weights(np.arange(20), 20, allowed=allowed))
    draws = np.asarray(sample_items(jax.random.key(0), cdf, (20_000,)))
    assert set(np.unique(draws)) == set(np.flatnonzero(allowed))


@pytest.mark.parametrize("sampler", ["uniform", "popularity"])
def test_draw_frequencies_follow_the_weights(sampler):
    items = np.repeat(np.arange(6), [1, 2, 4, 8, 16, 32])
    weights = sampling_weights(items, 6, sampler, exponent=1.0)
    expected = weights / weights.sum()
    if sampler == "popularity":
        np.testing.assert_allclose(expected, np.array([1, 2, 4, 8, 16, 32]) / 63)
    draws = np.asarray(sample_items(jax.random.key(3), make_cdf(weights), (200_000,)))
    frequencies = np.bincount(draws, minlength=6) / draws.size
    np.testing.assert_allclose(frequencies, expected, atol=4e-3)  # ~4 sigma


def test_sampler_compiles_once():
    users, items, _ = random_positives()
    keys = positive_keys(users, items, 40)
    cdf = make_cdf(np.ones(40))
    fn = jax.jit(sample_negatives, static_argnums=(4, 5))
    query = jnp.arange(30)
    fn(jax.random.key(0), query, keys, cdf, 2, 1)
    fn(jax.random.key(1), query, keys, cdf, 2, 1)
    assert fn._cache_size() == 1


def test_bad_sampler_and_empty_weights_are_refused():
    with pytest.raises(ValueError, match="sampler"):
        sampling_weights(np.array([0]), 2, "zipf")
    with pytest.raises(ValueError, match="zero"):
        sampling_weights(np.array([0]), 2, allowed=np.zeros(2, bool))
