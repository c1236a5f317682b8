"""Evaluation: metrics (pure functions, last axis), scoring (pairs and users x
items in bounded memory), protocols (ratings, full catalogue, sampled NCF, cold
start), item support (a minimum support and shrinkage of top-K lists) and the
baselines reported beside every model."""

from hybridrec_jax.evaluate.baselines import (
    BiasBaseline,
    feature_popularity,
    fit_biases,
    fit_global_mean,
    item_popularity,
)
from hybridrec_jax.evaluate.metrics import (
    batch_metrics,
    mean_over_users,
    rating_metrics,
    user_metrics,
)
from hybridrec_jax.evaluate.protocols import (
    evaluate_cold_start,
    evaluate_full_ranking,
    evaluate_ratings,
    evaluate_sampled,
    group_by_user,
    item_mask,
    padded_lists,
    sample_eval_negatives,
)
from hybridrec_jax.evaluate.scoring import (
    device_features,
    map_chunks,
    predict,
    score_all,
    score_all_plain,
    user_item_tables,
)
from hybridrec_jax.evaluate.support import (
    adjust_scores,
    check_support_options,
    eligible_items,
    item_support,
    shrink_scores,
    support_weights,
)

__all__ = [
    "BiasBaseline",
    "adjust_scores",
    "batch_metrics",
    "check_support_options",
    "device_features",
    "eligible_items",
    "evaluate_cold_start",
    "evaluate_full_ranking",
    "evaluate_ratings",
    "evaluate_sampled",
    "feature_popularity",
    "fit_biases",
    "fit_global_mean",
    "group_by_user",
    "item_popularity",
    "item_mask",
    "item_support",
    "map_chunks",
    "mean_over_users",
    "padded_lists",
    "predict",
    "rating_metrics",
    "sample_eval_negatives",
    "score_all",
    "score_all_plain",
    "shrink_scores",
    "support_weights",
    "user_item_tables",
    "user_metrics",
]
