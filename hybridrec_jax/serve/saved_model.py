"""Saved models: what recommending needs, written and read back as one folder.

:func:`save_model` writes a :mod:`~hybridrec_jax.serve.checkpoint` folder
(``arrays.msgpack`` and ``checkpoint.json``, no pickle) that carries, beyond the
parameters and configurations (and, to resume training, the optimiser state and
epoch):

- arrays: the content tables x_u (``user_features``, (U, F_u)) and x_i
  (``item_features``, (I, F_i)), the seen pairs (``seen_user``,
  ``seen_item``: the training pairs, or with ``hybridrec train --save-model``
  every pair of the data set, test rows included), so that items a user has
  already rated are never recommended, and numeric id maps (``user_ids``,
  ``item_ids``);
- metadata: the dataset name and rating range, the feature names, the item
  titles, string id maps (``user_ids``, ``item_ids``) and the fitted feature
  encoders where known (``user_encoder``, ``item_encoder``), so that a new
  user's raw values are encoded as the training users' were.

:func:`load_recommender` reads such a folder into a :class:`Recommender`, what
:mod:`~hybridrec_jax.serve.recommend` scores with; :func:`make_recommender`
builds the same object in memory from a training set, through the same arrays
and metadata. Loading checks every saved table against the model's sizes and
refuses a mismatch with one line naming the file and the field;
:func:`save_experiment_model` saves what ``run_experiment`` trained
(``hybridrec train --save-model``).
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
from hybridrec_jax.serve.manifest import refuse


@dataclass
class Recommender:
    """A trained model with everything needed to recommend.

    Attributes:
        params: the parameter pytree of ``model.init_params`` (device arrays).
        model_cfg: the network's configuration.
        features: {"user": x (U, F_u), "item": x (I, F_i)} float32 content tables.
        user_ids: (U,) the original id of each user index.
        item_ids: (I,) the original id of each item index.
        seen_offsets: (U + 1,) int64 CSR offsets of the training pairs
            (``evaluate.group_by_user``): user u saw
            ``seen_items[seen_offsets[u]:seen_offsets[u + 1]]``.
        seen_items: (N,) the training items sorted by user.
        user_feature_names: the F_u column names of x_u.
        item_feature_names: the F_i column names of x_i.
        item_titles: I titles (or None entries), or None where unknown.
        user_encoder: the encoder fitted on the training users, if saved.
        rating_range: (low, high) of the training ratings, to clip predictions.
        loss: the training loss, "mse" (the output is a rating) or "bce" (a
            logit); None where the training configuration was not saved.
    """

    params: Params
    model_cfg: ModelConfig
    features: Features
    user_ids: np.ndarray
    item_ids: np.ndarray
    seen_offsets: np.ndarray
    seen_items: np.ndarray
    user_feature_names: tuple[str, ...] = ()
    item_feature_names: tuple[str, ...] = ()
    item_titles: list | None = None
    user_encoder: FeatureEncoder | None = None
    rating_range: tuple[float, float] | None = None
    loss: str | None = None

    @property
    def predicts_ratings(self) -> bool:
        """Whether the output is a rating (MSE; also when the loss is unknown
        and the scale is not the implicit (0, 1)) rather than a BCE logit."""
        if self.loss is not None:
            return self.loss == "mse"
        return self.rating_range is not None and tuple(self.rating_range) != (0, 1)

    def user_index(self, user_id) -> int:
        """The index of the user whose original id reads ``str(user_id)``.

        Raises:
            ValueError: the model does not know the user (use a new user).
        """
        return _index(self.user_ids, user_id, "user")

    def item_index(self, item_id) -> int:
        """The index of the item whose original id reads ``str(item_id)``.

        Raises:
            ValueError: the model does not know the item.
        """
        return _index(self.item_ids, item_id, "item")


def _index(ids: np.ndarray, value, what: str) -> int:
    matches = np.flatnonzero(ids.astype(str) == str(value))
    if matches.size == 0:
        hint = "; for a new user give --new-user with feature values"
        raise ValueError(
            f"unknown {what} id {value!r}: the model knows {len(ids)} {what}s "
            f"(e.g. {', '.join(map(str, ids[:3]))})" + (hint if what == "user" else "")
        )
    return int(matches[0])


def _contents(
    train: Dataset,
    user_encoder: FeatureEncoder | None,
    item_encoder: FeatureEncoder | None,
    seen: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, metadata) of a saved model: what :func:`save_model` writes."""
    seen_user, seen_item = (train.user, train.item) if seen is None else seen
    arrays = {
        "user_features": np.asarray(train.user_features, np.float32),
        "item_features": np.asarray(train.item_features, np.float32),
        "seen_user": np.asarray(seen_user, np.int32),
        "seen_item": np.asarray(seen_item, np.int32),
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
        ids = np.asarray(ids)
        if ids.dtype.kind in "iuf":  # numeric id maps go to the arrays file
            arrays[f"{side}_ids"] = ids
        else:  # others to the JSON metadata, as strings
            metadata[f"{side}_ids"] = [str(v) for v in ids]
    for side, encoder in (("user", user_encoder), ("item", item_encoder)):
        if encoder is not None:
            metadata[f"{side}_encoder"] = encoder.to_dict()
    return arrays, metadata


def _ids(arrays: dict, metadata: dict) -> dict[str, np.ndarray]:
    """{"user": (U,), "item": (I,)} original ids, wherever :func:`_contents`
    put them."""
    ids = {}
    for side in ("user", "item"):
        stored = arrays.get(f"{side}_ids")
        ids[side] = np.asarray(metadata[f"{side}_ids"] if stored is None else stored)
    return ids


def _problems(params: Params, arrays: dict, metadata: dict, sizes: dict):
    """(field, problem) of the first saved array or fact that does not fit the
    model's sizes, or None: every table is checked, so that a table cut short
    can never hand one user's row to another."""
    n = {"user": params["embeddings"]["user_bias"].shape[0],
         "item": params["embeddings"]["item_bias"].shape[0]}  # fmt: skip
    for side in ("user", "item"):
        stored = arrays.get(f"{side}_ids", metadata.get(f"{side}_ids"))
        if stored is None or np.shape(stored) != (n[side],):
            where = "arrays" if f"{side}_ids" in arrays else "metadata"
            count = "no" if stored is None else np.size(stored)
            return f"{where}.{side}_ids", (
                f"does not fit: the model has {n[side]} {side}s but the data "
                f"{count} ids"
            )
        f = sizes[f"n_{side}_features"]
        table = arrays.get(f"{side}_features")
        if table is None or table.shape != (n[side], f):
            got = "missing" if table is None else f"of shape {table.shape}"
            return f"arrays.{side}_features", (
                f"is {got}; the model has {n[side]} {side}s and {f} features"
            )
        names = metadata.get(f"{side}_feature_names") or []
        if not isinstance(names, list) or names and len(names) != f:
            return f"metadata.{side}_feature_names", f"does not name {f} features"
    seen = arrays.get("seen_user"), arrays.get("seen_item")
    for side, pairs in zip(("user", "item"), seen, strict=True):
        if pairs is None or pairs.ndim != 1 or pairs.shape != seen[0].shape:
            return f"arrays.seen_{side}", "is not one index per seen pair"
        if pairs.dtype.kind not in "iu" or pairs.size and not (
            0 <= pairs.min() and pairs.max() < n[side]):  # fmt: skip
            return f"arrays.seen_{side}", f"holds indices outside 0..{n[side] - 1}"
    titles = metadata.get("item_titles")
    if titles is not None and (
        not isinstance(titles, list) or len(titles) != n["item"]
    ):
        return "metadata.item_titles", f"is not a list of {n['item']} titles"
    return None


def _check_sizes(params: Params, arrays: dict, metadata: dict, sizes: dict) -> None:
    """Raise ValueError unless the saved data fits the parameters (saving)."""
    problem = _problems(params, arrays, metadata, sizes)
    if problem is not None:
        raise ValueError(
            f"the data does not fit the model: {problem[0]} {problem[1]}: save "
            "the model with the training set it was fitted on"
        )


def _recommender(
    params: Params,
    model_cfg: ModelConfig,
    arrays: dict,
    metadata: dict,
    train_cfg: TrainConfig | None = None,
) -> Recommender:
    """A :class:`Recommender` from the parameters and :func:`_contents`."""
    ids = _ids(arrays, metadata)
    features = {
        side: jnp.asarray(arrays[f"{side}_features"], jnp.float32)
        for side in ("user", "item")
    }
    offsets, items = group_by_user(
        arrays["seen_user"], arrays["seen_item"], len(ids["user"])
    )
    encoder = metadata.get("user_encoder")
    return Recommender(
        params=jax.tree.map(jnp.asarray, params),
        model_cfg=model_cfg,
        features=features,
        user_ids=ids["user"],
        item_ids=ids["item"],
        seen_offsets=offsets,
        seen_items=items,
        user_feature_names=tuple(metadata.get("user_feature_names", ())),
        item_feature_names=tuple(metadata.get("item_feature_names", ())),
        item_titles=metadata.get("item_titles"),
        user_encoder=None if encoder is None else FeatureEncoder.from_dict(encoder),
        rating_range=_rating_range(metadata.get("rating_range")),
        loss=None if train_cfg is None else train_cfg.loss,
    )


def _rating_range(value) -> tuple[float, float] | None:
    """The saved [low, high] as floats, or None; ValueError when malformed."""
    if value is None:
        return None
    low, high = (float(v) for v in value)
    if not low <= high:
        raise ValueError(f"rating_range {value} is not [low, high]")
    return low, high


def make_recommender(
    params: Params,
    model_cfg: ModelConfig,
    train: Dataset,
    *,
    user_encoder: FeatureEncoder | None = None,
    train_cfg: TrainConfig | None = None,
) -> Recommender:
    """The :class:`Recommender` that saving and loading would give, in memory.

    Args:
        params: the parameters fitted on ``train`` (U users, I items).
        model_cfg: their configuration.
        train: the training set: content tables, id maps, titles and the pairs
            whose items are not recommended again.
        user_encoder: the encoder fitted on the training users (new users'
            raw values are encoded with it).
        train_cfg: the training configuration (its loss tells ratings from
            logits).

    Returns:
        A :class:`Recommender`.

    Raises:
        ValueError: ``params`` and ``train`` disagree on the number of users or
            items.

    >>> from hybridrec_jax.data.dataset import tiny_dataset
    >>> from hybridrec_jax.model import init_params
    >>> data = tiny_dataset()
    >>> p = init_params(jax.random.key(0), ModelConfig.tiny(), 3, 2, 3, 2)
    >>> rec = make_recommender(p, ModelConfig.tiny(), data)
    >>> rec.user_index(11), rec.seen_offsets.tolist()
    (1, [0, 1, 2, 3])
    """
    arrays, metadata = _contents(train, user_encoder, None)
    _check_sizes(params, arrays, metadata, _feature_sizes(train))
    return _recommender(params, model_cfg, arrays, metadata, train_cfg)


def _feature_sizes(train: Dataset) -> dict[str, int]:
    return {"n_user_features": train.user_features.shape[1],
            "n_item_features": train.item_features.shape[1]}  # fmt: skip


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
    seen: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Save the model with the id maps, features, titles and seen pairs of ``train``.

    A model already in ``directory`` stays loadable until the new one is
    complete (``checkpoint.save_checkpoint``).

    Args:
        directory: the folder (created if needed).
        params, model_cfg: the model, fitted on ``train``.
        train: the training set (see :func:`make_recommender`).
        train_cfg, opt_state, epoch: to resume training (optional; see
            ``checkpoint.save_checkpoint``).
        user_encoder, item_encoder: the encoders fitted on the training rows.
        seen: (users, items) index pairs never to recommend again (default:
            those of ``train``).

    Returns:
        The folder's path.

    Raises:
        ValueError: ``params`` and ``train`` disagree on the number of users or
            items; ``opt_state`` without ``train_cfg``.
    """
    arrays, metadata = _contents(train, user_encoder, item_encoder, seen)
    _check_sizes(params, arrays, metadata, _feature_sizes(train))
    return save_checkpoint(
        directory, params, model_cfg, train_cfg=train_cfg, opt_state=opt_state,
        epoch=epoch, arrays=arrays, metadata=metadata,
        n_user_features=train.user_features.shape[1],
        n_item_features=train.item_features.shape[1],
    )  # fmt: skip


def load_recommender(directory: str | Path) -> Recommender:
    """A :class:`Recommender` from a folder written by :func:`save_model`.

    Raises:
        CheckpointError: the folder is not a valid checkpoint
            (``checkpoint.load_checkpoint``), or a saved table, id map, title
            list or seen pair does not fit the model's sizes (one line naming
            the file and the field).
    """
    ckpt = load_checkpoint(directory)
    problem = _problems(ckpt.params, ckpt.arrays, ckpt.metadata, ckpt.sizes)
    if problem is not None:
        raise refuse(ckpt.path, *problem)
    try:
        return _recommender(ckpt.params, ckpt.model_cfg, ckpt.arrays, ckpt.metadata,
                            ckpt.train_cfg)  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        raise refuse(ckpt.path, "metadata", f"is invalid: {err}") from None


def save_experiment_model(
    directory: str | Path,
    result,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    data,
) -> Path:
    """Save what ``run_experiment`` trained (``hybridrec train --save-model``).

    ``data`` is the ``experiment.ExperimentData`` it trained on: the training
    split with its interaction features and the content encoders fitted on the
    training rows, so a new user's raw values are encoded as the training
    users' were. Every (user, item) of the data set, train and test rows alike,
    is recorded as seen, so ``recommend`` never offers a user an item they rated
    anywhere in the data. The saved parameters are ``result.params``, the best
    by the validation metric, with ``result.best_epoch``; the optimiser state
    is not saved (it belongs to ``result.state``, the last epoch's parameters:
    resume training from ``result.state`` and ``checkpoint.save_checkpoint``).

    Args:
        directory: the folder to write.
        result: the ``train.FitResult`` of ``run_experiment``.
        model_cfg, train_cfg: the configurations it was trained with.
        data: ``experiment.prepare_experiment`` of the same arguments (or
            ``ranking_experiment.prepare_ranking``: its ``train`` and ``test``
            hold every interaction of the split, whatever its rating).

    Returns:
        The folder's path.
    """
    train, test, preparation = data.train, data.test, data.preparation
    seen = tuple(np.concatenate([a, b]) for a, b in
                 ((train.user, test.user), (train.item, test.item)))  # fmt: skip
    return save_model(
        directory, result.params, model_cfg, train, train_cfg=train_cfg,
        epoch=result.best_epoch, user_encoder=preparation.user_encoder,
        item_encoder=preparation.item_encoder, seen=seen,
    )  # fmt: skip
