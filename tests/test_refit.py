"""The refit: after early stopping, train again on every row for the chosen epochs."""

from __future__ import annotations

import dataclasses
import sys

import jax
import numpy as np
import pytest

from hybridrec_jax import (
    ModelConfig,
    SyntheticConfig,
    TrainConfig,
    fit,
    format_report,
    refit,
    run_experiment,
)

CFG = TrainConfig(batch_size=64, epochs=4, patience=0, learning_rate=1e-2,
                  validation_fraction=0.2)  # fmt: skip


@pytest.fixture(scope="module")
def selected(tiny_split, tiny_model_cfg):
    """An early-stopped fit on 80% of the training rows, its best epoch set to 2
    of the 4 run (so a refit for the epochs *run* would differ)."""
    result = fit(tiny_split[0], tiny_model_cfg, CFG)
    assert len(result.history) == 4 and "val_rmse" in result.history[0]
    return dataclasses.replace(result, best_epoch=2)


def test_refit_trains_on_every_row_for_the_best_epoch(
    tiny_split, tiny_model_cfg, selected
):
    train = tiny_split[0]
    got = refit(train, tiny_model_cfg, CFG, selected)
    assert got.refit_epochs == 2 and got.state.epoch == 2
    assert got.n_train == train.n_interactions > selected.n_train
    # The selection's curve and choice are kept; the parameters are new.
    assert got.history is selected.history and got.best_epoch == 2
    assert got.best_metric == selected.best_metric
    assert got.train_seconds > selected.train_seconds
    # Independent truth: fit on every row for 2 epochs, no validation, same seed.
    plain = TrainConfig(batch_size=64, epochs=2, patience=0, learning_rate=1e-2,
                        validation_fraction=0.0)  # fmt: skip
    expected = fit(train, tiny_model_cfg, plain)
    jax.tree.map(np.testing.assert_array_equal, got.params, expected.params)
    with pytest.raises(AssertionError):  # and they are not the selection's
        jax.tree.map(np.testing.assert_array_equal, got.params, selected.params)


def test_nothing_is_refitted_when_off_or_without_validation(
    tiny_split, tiny_model_cfg, selected
):
    train = tiny_split[0]
    assert refit(train, tiny_model_cfg, CFG.replace(refit=False), selected) is selected
    unvalidated = fit(train, tiny_model_cfg, CFG.replace(validation_fraction=0.0,
                                                         epochs=1))  # fmt: skip
    assert refit(train, tiny_model_cfg, CFG, unvalidated) is unvalidated
    assert unvalidated.refit_epochs == 0


def test_refit_passes_the_fit_options_on(
    tiny_split, tiny_model_cfg, selected, monkeypatch
):
    """allowed_items (the ranking job's warm items) reaches the second fit."""
    module = sys.modules["hybridrec_jax.train.fit"]  # the package's fit shadows it
    given = {}

    def spy(train, model_cfg, train_cfg, **options):
        given.update(options, cfg=train_cfg)
        return selected

    monkeypatch.setattr(module, "fit", spy)
    allowed = np.ones(tiny_split[0].n_items, bool)
    refit(tiny_split[0], tiny_model_cfg, CFG, selected, allowed_items=allowed)
    assert given["allowed_items"] is allowed
    assert given["cfg"].validation_fraction == 0.0 and given["cfg"].epochs == 2


@pytest.mark.parametrize("refitted", [True, False])
def test_the_rating_job_reports_the_refit(refitted):
    cfg = TrainConfig.tiny().replace(refit=refitted, validation_fraction=0.2)
    # The time split: the job holds the latest rows out for validation itself.
    report, result = run_experiment(split="time", model_cfg=ModelConfig.tiny(),
                                    train_cfg=cfg,
                                    synthetic=SyntheticConfig.tiny())  # fmt: skip
    assert report["refit_epochs"] == (report["best_epoch"] if refitted else 0)
    assert result.refit_epochs == report["refit_epochs"]
    # The refit trains on every training row, the validation rows included.
    assert (result.n_train == report["n_train"]) == refitted
    text = format_report(report)
    assert ("on every training row" in text) == refitted


def test_the_defaults_refit_and_the_tiny_test_config_does_not():
    assert TrainConfig().refit and TrainConfig.ranking().refit
    assert not TrainConfig.tiny().refit
