"""Data: loading, preparation, splits and the built-in synthetic data set."""

from hybridrec_jax.data.assignments import parse_assignments
from hybridrec_jax.data.catalog import (
    DATASETS,
    SPLITS,
    CSVOptions,
    default_data_dir,
    find_data,
    prepare_named,
    split_rows,
)
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.download import RELEASES, download
from hybridrec_jax.data.encoders import (
    FeatureEncoder,
    FeatureSpec,
    encode,
    fit_encoder,
)
from hybridrec_jax.data.generic import (
    infer_feature_specs,
    load_interactions,
    prepare_interactions,
)
from hybridrec_jax.data.interactions import add_spectral_features, interaction_columns
from hybridrec_jax.data.ml1m import load_ml1m, ml1m_tables, prepare_ml1m
from hybridrec_jax.data.movielens import (
    ML100K_FOLDS,
    load_ml100k,
    ml100k_fold,
    ml100k_tables,
    prepare_ml100k,
)
from hybridrec_jax.data.movielens_csv import (
    load_movielens_csv,
    movielens_csv_tables,
    prepare_movielens_csv,
)
from hybridrec_jax.data.ncf import NCFData, load_ncf_ml1m, prepare_ncf_ml1m
from hybridrec_jax.data.prepare import (
    DataError,
    drop_duplicate_interactions,
    drop_invalid_interactions,
    k_core,
    to_implicit,
)
from hybridrec_jax.data.splits import (
    cold_start_split,
    held_out_mask,
    kfold_split,
    leave_one_out,
    random_split,
    time_split,
    train_test,
)
from hybridrec_jax.data.synthetic import (
    SyntheticConfig,
    load_synthetic,
    prepare_synthetic,
    synthetic_tables,
)
from hybridrec_jax.data.tables import Preparation, fit_features, from_tables

__all__ = [
    "add_spectral_features",
    "DATASETS",
    "ML100K_FOLDS",
    "RELEASES",
    "SPLITS",
    "CSVOptions",
    "DataError",
    "Dataset",
    "FeatureEncoder",
    "FeatureSpec",
    "NCFData",
    "Preparation",
    "SyntheticConfig",
    "cold_start_split",
    "default_data_dir",
    "download",
    "drop_duplicate_interactions",
    "drop_invalid_interactions",
    "encode",
    "fit_encoder",
    "find_data",
    "fit_features",
    "from_tables",
    "held_out_mask",
    "infer_feature_specs",
    "interaction_columns",
    "k_core",
    "kfold_split",
    "leave_one_out",
    "load_interactions",
    "load_ml100k",
    "load_ml1m",
    "load_movielens_csv",
    "load_ncf_ml1m",
    "load_synthetic",
    "ml100k_fold",
    "ml100k_tables",
    "ml1m_tables",
    "movielens_csv_tables",
    "parse_assignments",
    "prepare_interactions",
    "prepare_ml100k",
    "prepare_ml1m",
    "prepare_movielens_csv",
    "prepare_named",
    "prepare_ncf_ml1m",
    "prepare_synthetic",
    "random_split",
    "split_rows",
    "synthetic_tables",
    "time_split",
    "to_implicit",
    "train_test",
]
