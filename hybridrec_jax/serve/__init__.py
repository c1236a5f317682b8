"""Serving a trained model: checkpoints, saved models and recommendations.

- ``checkpoint``: parameters, optimiser state, configurations and metadata as a
  folder of msgpack arrays and a JSON manifest (``manifest``: format version,
  schema, one digest over the manifest and the arrays; never pickle), written
  crash-safely (``atomic``: temporary name, fsync, atomic rename);
- ``saved_model``: a checkpoint that also carries the content tables, id maps,
  titles, encoders and training pairs, read back as a :class:`Recommender`;
- ``recommend``: top-K for known users (seen items excluded), for new users
  from raw feature values (the content path), similar items, all users.
"""

from hybridrec_jax.serve.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from hybridrec_jax.serve.recommend import (
    format_table,
    item_representations,
    item_support_of,
    recommend_all,
    recommend_new_user,
    recommend_user,
    similar_items,
    top_k,
    user_feature_row,
)
from hybridrec_jax.serve.saved_model import (
    Recommender,
    load_recommender,
    make_recommender,
    save_experiment_model,
    save_model,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Recommender",
    "format_table",
    "item_representations",
    "item_support_of",
    "load_checkpoint",
    "load_recommender",
    "make_recommender",
    "recommend_all",
    "recommend_new_user",
    "recommend_user",
    "save_checkpoint",
    "save_experiment_model",
    "save_model",
    "similar_items",
    "top_k",
    "user_feature_row",
]
