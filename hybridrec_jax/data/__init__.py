"""Data: loading, preparation, splits and the built-in synthetic data set."""

from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.movielens import (
    ML100K_FOLDS,
    load_ml100k,
    ml100k_fold,
    ml100k_tables,
)
from hybridrec_jax.data.prepare import (
    DataError,
    FeatureEncoder,
    FeatureSpec,
    encode,
    fit_encoder,
)
from hybridrec_jax.data.splits import random_split, train_test
from hybridrec_jax.data.synthetic import (
    SyntheticConfig,
    load_synthetic,
    synthetic_tables,
)
from hybridrec_jax.data.tables import Preparation, from_tables

__all__ = [
    "ML100K_FOLDS",
    "DataError",
    "Dataset",
    "FeatureEncoder",
    "FeatureSpec",
    "Preparation",
    "SyntheticConfig",
    "encode",
    "fit_encoder",
    "from_tables",
    "load_ml100k",
    "load_synthetic",
    "ml100k_fold",
    "ml100k_tables",
    "random_split",
    "synthetic_tables",
    "train_test",
]
