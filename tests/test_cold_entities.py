"""Cold entities everywhere: a user or item without a training interaction has
exactly zero id rows and biases in what `train` evaluates and saves, for the
rating and the ranking task, so it is scored as a brand-new entity with the
same content is (through the content path alone)."""

from __future__ import annotations

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from hybridrec_jax.cli import main
from hybridrec_jax.data import CSVOptions
from hybridrec_jax.evaluate import score_all
from hybridrec_jax.experiment import load_split
from hybridrec_jax.model import with_new_entities
from hybridrec_jax.serve.saved_model import load_recommender

CASES = Path(__file__).parent / "fixtures" / "cases"
FILES = {name: str(CASES / f"cold_item_{name}.csv")
         for name in ("ratings", "users", "items")}  # fmt: skip
TINY = ["--epochs", "2", "--embedding-dim", "4", "--hidden-dims", "8",
        "--dot-dim", "4", "--interaction-dim", "2", "--batch-size", "64",
        "--no-progress"]  # fmt: skip


@pytest.mark.parametrize("task", ["rating", "ranking"])
@pytest.mark.parametrize("split", ["cold-items", "cold-users"])
def test_cold_entities_are_saved_with_zero_rows_and_scored_as_new_ones(
    tmp_path, capsys, split, task
):
    model = tmp_path / "model"
    args = ["train", "--task", task, "--dataset", "csv",
            "--ratings-file", FILES["ratings"], "--users-file", FILES["users"],
            "--items-file", FILES["items"], "--title-column", "title",
            "--split", split, "--test-fraction", "0.25",
            "--save-model", str(model), *TINY]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    csv = CSVOptions(**FILES, title_column="title")
    train, _ = load_split("csv", split=split, test_fraction=0.25, csv=csv)
    side = "item" if split == "cold-items" else "user"
    count = train.n_items if side == "item" else train.n_users
    cold = np.bincount(getattr(train, side), minlength=count) == 0  # (count,)
    assert cold.any() and (~cold).any()
    rec = load_recommender(model)
    for name in (side, f"{side}_dot", f"{side}_bias"):
        table = np.asarray(rec.params["embeddings"][name])
        assert not table[cold].any(), f"{name} rows of cold {side}s are not zero"
        assert table[~cold].any(), f"{name} rows of warm {side}s were not trained"
    # A cold entity scores as a new one with its content row and zero id rows.
    entity = int(np.flatnonzero(cold)[0])
    new = rec.features[side][entity][None, :]  # (1, F)
    params, features = with_new_entities(rec.params, rec.features, **{
        f"new_{side}_features": new})  # fmt: skip
    users = np.arange(3)
    if side == "item":
        scores = np.asarray(score_all(params, rec.model_cfg, features, users))
        np.testing.assert_allclose(scores[:, entity], scores[:, -1], rtol=1e-5)
    else:
        pair = np.array([entity, features["user"].shape[0] - 1])
        scores = np.asarray(score_all(params, rec.model_cfg, features, pair))
        np.testing.assert_allclose(scores[0], scores[1], rtol=1e-5)
    assert jnp.all(jnp.isfinite(jnp.asarray(scores)))


def test_ranking_never_draws_a_cold_item_as_a_negative(monkeypatch):
    """The ranking job passes fit the items with a training interaction as the
    only ones to draw negatives from: a cold item is never seen in training."""
    import hybridrec_jax.ranking_experiment as job

    calls = []
    real_fit = job.fit

    def spy(train, model_cfg, train_cfg, **kwargs):
        calls.append(kwargs.get("allowed_items"))
        return real_fit(train, model_cfg, train_cfg, **kwargs)

    monkeypatch.setattr(job, "fit", spy)
    # The refits (TrainConfig.refit) call the training module's fit.
    module = sys.modules["hybridrec_jax.train.fit"]
    real_module_fit = module.fit

    def module_spy(train, model_cfg, train_cfg, **kwargs):
        calls.append(kwargs.get("allowed_items"))
        return real_module_fit(train, model_cfg, train_cfg, **kwargs)

    monkeypatch.setattr(module, "fit", module_spy)
    csv = CSVOptions(**FILES, title_column="title")
    cfg = job.TrainConfig.ranking(epochs=1, batch_size=64)
    model_cfg = job.ModelConfig.tiny()
    data = job.prepare_ranking("csv", split="cold-items", model_cfg=model_cfg,
                               test_fraction=0.25, csv=csv)  # fmt: skip
    job.run_ranking_experiment("csv", model_cfg=model_cfg, train_cfg=cfg, data=data)
    cold = np.bincount(data.train.item, minlength=data.train.n_items) == 0
    # The model and the MF baseline, each early-stopped and then refitted.
    assert cold.any() and len(calls) == 4
    for allowed in calls:
        np.testing.assert_array_equal(allowed, ~cold)


def test_the_time_split_validates_on_the_latest_training_rows(tiny_split):
    """validation_split: on the time split every validation row is at least as
    late as every kept row, and 5% are held out; other splits leave the
    choice to fit (None)."""
    from hybridrec_jax import TrainConfig
    from hybridrec_jax.experiment import validation_split

    train, cfg = tiny_split[0], TrainConfig()
    kept, held = validation_split(train, "time", cfg)
    assert held.timestamp.min() >= kept.timestamp.max()
    assert kept.n_interactions + held.n_interactions == train.n_interactions
    assert abs(held.n_interactions - 0.05 * train.n_interactions) <= 2
    for split in ("random", "cold-items", "u1"):
        assert validation_split(train, split, cfg) == (train, None)
    assert (
        validation_split(train, "time", cfg.replace(validation_fraction=0.0))[1] is None
    )


def test_the_main_job_early_stops_on_the_latest_rows_of_the_time_split(monkeypatch):
    import hybridrec_jax.experiment as job
    from hybridrec_jax import ModelConfig, SyntheticConfig, TrainConfig

    given = []
    real_fit = job.fit

    def spy(train, model_cfg, train_cfg, validation=None, **kwargs):
        given.append((train, validation))
        return real_fit(train, model_cfg, train_cfg, validation, **kwargs)

    monkeypatch.setattr(job, "fit", spy)
    job.run_experiment(split="time", model_cfg=ModelConfig.tiny(),
                       train_cfg=TrainConfig.tiny(),
                       synthetic=SyntheticConfig.tiny())  # fmt: skip
    ((train, validation),) = given
    assert validation is not None
    assert validation.timestamp.min() >= train.timestamp.max()


def test_fit_zeroes_the_untrained_rows_at_the_end_of_the_index_and_negatives():
    """fit on its own, BCE with sampled negatives drawn from every item: the
    users and items without a positive (the last index of each side among
    them) come back with exactly zero id rows and biases, the others do not."""
    from hybridrec_jax.config import ModelConfig, TrainConfig
    from hybridrec_jax.data.dataset import Dataset
    from hybridrec_jax.train.fit import fit, untrained_entities

    rng = np.random.default_rng(0)
    n_users, n_items = 6, 8
    user = np.repeat(np.arange(4), 6).astype(np.int32)  # users 4, 5: none
    item = np.tile([0, 1, 2, 3, 5, 6], 4).astype(np.int32)  # items 4, 7: none
    train = Dataset(
        user=user, item=item, rating=np.ones(len(user), np.float32),
        user_features=rng.normal(size=(n_users, 3)).astype(np.float32),
        item_features=rng.normal(size=(n_items, 3)).astype(np.float32),
        user_ids=np.arange(n_users), item_ids=np.arange(n_items),
        name="cold-tail", rating_range=(0.0, 1.0),
    )  # fmt: skip
    users, items = untrained_entities(train)
    assert users.tolist() == [4, 5] and items.tolist() == [4, 7]
    cfg = TrainConfig.ranking(epochs=2, batch_size=8, validation_fraction=0.0)
    params = fit(train, ModelConfig.tiny(), cfg).params
    for side, cold in (("user", users), ("item", items)):
        for name in (side, f"{side}_dot", f"{side}_bias"):
            table = np.asarray(params["embeddings"][name])
            assert not table[cold].any(), f"{name} rows of untrained {side}s"
            warm = np.delete(table, cold, axis=0)
            assert warm.any(), f"{name} rows of trained {side}s"
