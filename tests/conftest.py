"""Shared fixtures: tiny data and configs, built once per session."""

from __future__ import annotations

from pathlib import Path

import jax
import pytest

from hybridrec_jax import ModelConfig, SyntheticConfig, TrainConfig, load_synthetic
from hybridrec_jax.data import find_data, random_split

# Strict JAX: an implicit broadcast of a lower-rank array ((B, D) + (D,)) is an
# error in the tests, so every broadcast in the library is written out.
jax.config.update("jax_numpy_rank_promotion", "raise")
# A random key used twice is an error (jax's key-reuse checker).
jax.config.update("jax_debug_key_reuse", True)


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    path = find_data("ml-100k")
    if path is None:
        pytest.skip("ML-100K not found in $HYBRIDREC_DATA or ../shared/data")
    return path


@pytest.fixture(scope="session")
def tiny_data():
    return load_synthetic(SyntheticConfig.tiny())


@pytest.fixture(scope="session")
def tiny_split(tiny_data):
    train_rows, test_rows = random_split(tiny_data.n_interactions, 0.2, seed=0)
    return tiny_data.subset(train_rows), tiny_data.subset(test_rows)


@pytest.fixture(scope="session")
def tiny_model_cfg():
    return ModelConfig.tiny()


@pytest.fixture(scope="session")
def tiny_train_cfg():
    return TrainConfig.tiny()


@pytest.fixture
def key():
    return jax.random.key(0)
