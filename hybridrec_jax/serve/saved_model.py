"""Saved models: what recommending needs, written and read back as one folder.

:func:`save_model` writes a :mod:`checkpoint` folder (``arrays.msgpack`` and
``checkpoint.json``, no pickle) that carries, beyond the parameters and
configurations (and, to resume training, the optimiser state and epoch):

- arrays: the content tables x_u (``user_features``, (U, F_u)) and x_i
  (``item_features``, (I, F_i)), the training pairs (``seen_user``,
  ``seen_item``), so that items a user has already seen are never recommended,
  and numeric id maps (``user_ids``, ``item_ids``);
- metadata: the dataset name and rating range, the feature names, the item
  titles, string id maps (``user_ids``, ``item_ids``) and the fitted feature
  encoders where known (``user_encoder``, ``item_encoder``), so that a new
  user's raw values are encoded as the training users' were.

:func:`load_recommender` reads such a folder into a :class:`Recommender`, what
:mod:`recommend` scores with; :func:`save_experiment_model` saves what
``run_experiment`` trained (``hybridrec train --save-model``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from hybridrec_jax.config import ModelConfig, TrainConfig
from hybridrec_jax.data.dataset import Dataset
from hybridrec_jax.data.encoders import FeatureEncoder
from hybridrec_jax.evaluate import group_by_user
from hybridrec_jax.model import Features, Params
from hybridrec_jax.serve.checkpoint import load_checkpoint, save_checkpoint


@dataclass
class Recommender:
    """A loaded model with everything needed to recommend."""

    params: Params
    model_cfg: ModelConfig
    features: Features
    user_ids: np.ndarray
    item_ids: np.ndarray
    seen_offsets: np.ndarray  # (U + 1,) CSR of the training pairs
    seen_items: np.ndarray
    user_feature_names: tuple[str, ...] = ()
    item_feature_names: tuple[str, ...] = ()
    item_titles: list | None = None
    user_encoder: FeatureEncoder | None = None

    def user_index(self, user_id) -> int:
        return _index(self.user_ids, user_id, "user")

    def item_index(self, item_id) -> int:
        return _index(self.item_ids, item_id, "item")


def _index(ids: np.ndarray, value, what: str) -> int:
    matches = np.flatnonzero(ids.astype(str) == str(value))
    if matches.size == 0:
        raise ValueError(
            f"unknown {what} id {value!r}: the model knows {len(ids)} {what}s "
            f"(e.g. {', '.join(map(str, ids[:3]))}); for a new user give "
            "--new-user with feature values"
        )
    return int(matches[0])


def _ids_for_storage(ids: np.ndarray) -> tuple[dict, dict]:
    """Numeric id maps go to the arrays file, others to JSON metadata."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iuf":
        return {"ids": ids}, {}
    return {}, {"ids": [str(v) for v in ids]}


def save_model(
    directory: str | Path,
    params: Params,
    model_cfg: ModelConfig,
    train: Dataset,
    *,
    train_cfg: TrainConfig | None = None,
    opt_state=None,
    epoch: int = 0,
    user_encoder: FeatureEncoder | None = None,
    item_encoder: FeatureEncoder | None = None,
) -> Path:
    """Save the model with the id maps, features, titles and seen pairs of ``train``."""
    arrays = {
        "user_features": train.user_features,
        "item_features": train.item_features,
        "seen_user": np.asarray(train.user, np.int32),
        "seen_item": np.asarray(train.item, np.int32),
    }
    metadata: dict = {
        "dataset": train.name,
        "rating_range": list(train.rating_range),
        "user_feature_names": list(train.user_feature_names),
        "item_feature_names": list(train.item_feature_names),
        "item_titles": None
        if train.item_titles is None
        else [None if pd.isna(t) else str(t) for t in train.item_titles],
    }
    for side, ids in (("user", train.user_ids), ("item", train.item_ids)):
        stored, meta = _ids_for_storage(ids)
        arrays.update({f"{side}_{k}": v for k, v in stored.items()})
        metadata.update({f"{side}_{k}": v for k, v in meta.items()})
    for side, encoder in (("user", user_encoder), ("item", item_encoder)):
        if encoder is not None:
            metadata[f"{side}_encoder"] = encoder.to_dict()
    return save_checkpoint(
        directory, params, model_cfg, train_cfg=train_cfg, opt_state=opt_state,
        epoch=epoch, arrays=arrays, metadata=metadata,
        n_user_features=train.user_features.shape[1],
        n_item_features=train.item_features.shape[1],
    )  # fmt: skip


def load_recommender(directory: str | Path) -> Recommender:
    """A :class:`Recommender` from a folder written by :func:`save_model`."""
    ckpt = load_checkpoint(directory)
    arrays, meta = ckpt.arrays, ckpt.metadata
    features = {
        "user": jnp.asarray(arrays["user_features"], jnp.float32),
        "item": jnp.asarray(arrays["item_features"], jnp.float32),
    }
    ids = {}
    for side in ("user", "item"):
        stored = arrays.get(f"{side}_ids")
        ids[side] = np.asarray(meta[f"{side}_ids"] if stored is None else stored)
    offsets, items = group_by_user(
        arrays["seen_user"], arrays["seen_item"], len(ids["user"])
    )
    encoder = meta.get("user_encoder")
    return Recommender(
        params=jax.tree.map(jnp.asarray, ckpt.params),
        model_cfg=ckpt.model_cfg,
        features=features,
        user_ids=ids["user"],
        item_ids=ids["item"],
        seen_offsets=offsets,
        seen_items=items,
        user_feature_names=tuple(meta.get("user_feature_names", ())),
        item_feature_names=tuple(meta.get("item_feature_names", ())),
        item_titles=meta.get("item_titles"),
        user_encoder=None if encoder is None else FeatureEncoder.from_dict(encoder),
    )


def save_experiment_model(
    directory: str | Path,
    result,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    dataset: str,
    data_dir=None,
    split: str = "random",
    test_fraction: float = 0.2,
    **split_options,
) -> Path:
    """Save what ``run_experiment`` trained (``hybridrec train --save-model``).

    The training split is rebuilt exactly as the experiment built it (seeded
    split, content encoders fitted on the training rows, then the interaction
    features fitted on them), so a new user's raw values are encoded as the
    training users' were.
    """
    from hybridrec_jax.data.interactions import add_spectral_features
    from hybridrec_jax.experiment import prepare_split

    train, _, preparation = prepare_split(
        dataset, data_dir, split, test_fraction, train_cfg.seed, **split_options
    )
    (train,) = add_spectral_features(
        train, (), model_cfg.interaction_dim, train_cfg.seed
    )
    encoders = preparation.user_encoder, preparation.item_encoder
    return save_model(
        directory, result.params, model_cfg, train, train_cfg=train_cfg,
        epoch=result.best_epoch,
        user_encoder=encoders[0], item_encoder=encoders[1],
    )  # fmt: skip
