"""A saved model on a file of (user, item) pairs: predictions and evaluation.

``hybridrec predict`` and ``hybridrec evaluate`` read a CSV, TSV or Parquet
file of pairs (:func:`read_pairs`: ids are labels, as in training, and a bad
cell is a :class:`~hybridrec_jax.data.prepare.DataError` naming the file, the
1-based line and the column), map the ids to the model's indices
(:func:`index_pairs`) and score the pairs the model knows:

- a user or item the model knows but never trained (it had no training
  interaction, e.g. a cold-start split or a side-table row nobody rated) has
  all-zero id rows and biases (``fit`` returns them so), so it is scored
  through the content path alone, x_u W_U and x_u V_U (likewise for items);
- an id the model does not know at all has no content row to score from: its
  pairs are counted and reported, never silently dropped (``predict`` leaves
  their score empty).

Scores: a model trained on ratings (MSE) predicts the rating, clipped to the
training scale; one trained with BCE predicts the probability sigmoid(z).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrec_jax.data.labelled import read_labelled_table
from hybridrec_jax.data.prepare import DataError
from hybridrec_jax.evaluate import evaluate_full_ranking, predict, rating_metrics
from hybridrec_jax.serve.saved_model import Recommender


def read_pairs(
    path: str | Path,
    columns: dict[str, str] | None = None,
    *,
    sep: str | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """A file of pairs as columns ``user``, ``item`` (labels) and, where the
    file has one, ``rating`` (float64); index = each row's 1-based file line.

    Args:
        path: CSV, TSV (by suffix) or Parquet, with a header line.
        columns: {role: column in the file} for user, item, rating (e.g.
            ``{"user": "uid"}``); a role not mapped is looked up by its name.
        sep: the field separator (None: by suffix).
        encoding: the text encoding.

    Raises:
        DataError: naming the file, line and column: the file is unreadable, a
            user or item column is missing, an id is blank, a rating is missing
            or not a finite number.
    """
    columns = dict(columns or {})
    table = read_labelled_table(path, sep=sep, encoding=encoding)
    rename = {}
    for role in ("user", "item", "rating"):
        source = columns.get(role, role)
        if source in table.columns:
            rename[source] = role
        elif role != "rating" or role in columns:
            raise DataError(
                f"no column {source!r} for the {role}; the file has "
                f"{list(table.columns)} (map them with --columns user=...,item=...)",
                path=str(path),
                column=source,
            )
    out = table[list(rename)].rename(columns=rename)
    out.attrs["path"] = str(path)
    if len(out) == 0:
        raise DataError("no pairs: the file has a header but no rows", path=str(path))
    for role in ("user", "item"):
        values = out[role].astype(str).str.strip()
        blank = (values == "") | out[role].isna().to_numpy()
        if blank.any():
            line = int(out.index[np.flatnonzero(blank)[0]])
            raise DataError(f"missing {role} id", path=str(path), row=line,
                            column=columns.get(role, role))  # fmt: skip
        out[role] = values
    if "rating" in out.columns:
        text = out["rating"]
        number = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(number)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"rating {str(text.iloc[at])!r} is not a finite number",
                path=str(path), row=int(out.index[at]),
                column=columns.get("rating", "rating"),
            )  # fmt: skip
        out["rating"] = number
    return out


def index_pairs(rec: Recommender, pairs: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """(users, items): each row's model index, int64 (N,), -1 for an id the
    model does not know (ids compared as text, as ``Recommender.user_index``)."""
    out = []
    for role, ids in (("user", rec.user_ids), ("item", rec.item_ids)):
        index = pd.Index(np.asarray(ids).astype(str))
        out.append(index.get_indexer(pairs[role].astype(str)).astype(np.int64))
    return tuple(out)


def untrained(rec: Recommender, side: str) -> np.ndarray:
    """(U,) or (I,) bool: the entities whose id rows and biases are all zero,
    scored through the content path alone (cold: no training interaction)."""
    emb = rec.params["embeddings"]
    zero = np.asarray(emb[f"{side}_bias"]) == 0
    for name in (side, f"{side}_dot"):
        table = np.asarray(emb[name])
        zero &= ~np.any(table != 0, axis=tuple(range(1, table.ndim)))
    return zero


def _unknown(pairs: pd.DataFrame, users, items) -> dict:
    """Counts of the rows and distinct ids the model does not know, with a
    few examples, for the report."""
    out = {"rows": int(np.sum((users < 0) | (items < 0)))}
    for role, index in (("user", users), ("item", items)):
        ids = pd.unique(pairs[role].to_numpy()[index < 0])
        out[f"{role}s"] = len(ids)
        out[f"{role}_examples"] = [str(v) for v in ids[:5]]
    return out


def score_pairs(rec: Recommender, pairs: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The model's score of every pair, in file order.

    Args:
        rec: the saved model.
        pairs: :func:`read_pairs`'s table (N rows).

    Returns:
        (table, unknown): columns user, item and ``rating`` (a rating model:
        y_hat clipped to its scale) or ``probability`` (a BCE model:
        sigmoid(z)), float, NaN where the model does not know the user or the
        item; and the counts of those (rows, users, items, examples).
    """
    users, items = index_pairs(rec, pairs)
    known = (users >= 0) & (items >= 0)
    clip = rec.rating_range if rec.predicts_ratings else None
    scores = np.full(len(pairs), np.nan)
    if known.any():
        scores[known] = predict(rec.params, rec.model_cfg, rec.features,
                                users[known], items[known], clip=clip)  # fmt: skip
    if not rec.predicts_ratings:
        scores = 1.0 / (1.0 + np.exp(-scores))  # sigmoid(z); NaN stays NaN
    name = "rating" if rec.predicts_ratings else "probability"
    table = pd.DataFrame({"user": pairs["user"].to_numpy(),
                          "item": pairs["item"].to_numpy(), name: scores})  # fmt: skip
    return table, _unknown(pairs, users, items)


def evaluate_pairs(
    rec: Recommender,
    pairs: pd.DataFrame,
    *,
    ks: tuple[int, ...] = (10,),
    threshold: float | None = None,
    min_support: int = 0,
    shrinkage: float = 0.0,
) -> dict:
    """Rating and ranking metrics of the saved model on new interactions.

    Rating metrics (a rating model and a file with ratings): RMSE and MAE of the
    predictions clipped to the training scale, over the known pairs. Ranking
    metrics (every model): each user's relevant items are the known pairs of
    the file (with ``threshold``: those rated >= it), ranked against every
    item the model does not record as seen by that user (the saved seen pairs
    are masked; ``evaluate_full_ranking``), at each K, with AUC and MRR.

    Args:
        rec: the saved model.
        pairs: :func:`read_pairs`'s table.
        ks: the cut-offs K.
        threshold: the lowest relevant rating (needs a rating column).
        min_support, shrinkage: rank as ``hybridrec recommend`` does with them
            (``evaluate_full_ranking``; n_i counted from the saved seen pairs).

    Returns:
        {"n_rows", "n_scored", "unknown": counts of rows and ids the model does
        not know (not scored), "cold": rows whose user or item has zero id rows
        (scored from content), "rating": {"rmse", "mae"} or None, "ranking":
        the figures of ``evaluate_full_ranking`` or None when no pair is
        relevant}.

    Raises:
        ValueError: ``threshold`` without a rating column, or a rating outside
            the scale of a rating model (naming its line).
    """
    has_rating = "rating" in pairs.columns
    if threshold is not None and not has_rating:
        raise ValueError("--threshold needs a rating column in the file")
    users, items = index_pairs(rec, pairs)
    known = (users >= 0) & (items >= 0)
    report = {"n_rows": len(pairs), "n_scored": int(known.sum()),
              "unknown": _unknown(pairs, users, items)}  # fmt: skip
    cold_users, cold_items = untrained(rec, "user"), untrained(rec, "item")
    u, i = users[known], items[known]
    report["cold"] = {"rows_with_cold_user": int(cold_users[u].sum()),
                      "rows_with_cold_item": int(cold_items[i].sum())}  # fmt: skip
    report["rating"] = None
    if has_rating and rec.predicts_ratings and known.any():
        rating = pairs["rating"].to_numpy()
        low, high = rec.rating_range
        outside = known & ((rating < low) | (rating > high))
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"rating {rating[row]:g} outside the model's scale {low:g}..{high:g}",
                path=pairs.attrs.get("path"), row=int(pairs.index[row]),
                column="rating",
            )  # fmt: skip
        prediction = predict(rec.params, rec.model_cfg, rec.features, u, i,
                             clip=rec.rating_range)  # fmt: skip
        report["rating"] = rating_metrics(prediction, rating[known])
    relevant = known
    if threshold is not None:
        relevant = known & (pairs["rating"].to_numpy() >= threshold)
    n_items = len(rec.item_ids)
    keys = np.unique(users[relevant] * n_items + items[relevant])  # each pair once
    report["ranking"] = None
    if keys.size:
        counts = np.diff(rec.seen_offsets)
        seen = (np.repeat(np.arange(len(counts)), counts), rec.seen_items)
        report["ranking"] = evaluate_full_ranking(
            rec.params, rec.model_cfg, rec.features, seen,
            (keys // n_items, keys % n_items), ks=tuple(ks),
            min_support=min_support, shrinkage=shrinkage,
        )  # fmt: skip
    report["threshold"] = threshold
    report["min_support"], report["shrinkage"] = min_support, shrinkage
    report["ks"] = list(ks)
    return report


def format_evaluation(report: dict) -> str:
    """The lines ``hybridrec evaluate`` prints for :func:`evaluate_pairs`."""
    unknown, cold = report["unknown"], report["cold"]
    lines = [f"{report['n_rows']} pairs read, {report['n_scored']} scored"]
    if unknown["rows"]:
        examples = "; ".join(
            f"{unknown[f'{r}s']} {r}s (e.g. {', '.join(unknown[f'{r}_examples'])})"
            for r in ("user", "item") if unknown[f"{r}s"]
        )  # fmt: skip
        lines.append(
            f"not scored: {unknown['rows']} pairs name ids the model does not know: "
            f"{examples}"
        )
    lines.append(
        f"scored from content (zero id rows, no training interaction): "
        f"{cold['rows_with_cold_user']} pairs with a cold user, "
        f"{cold['rows_with_cold_item']} with a cold item"
    )
    if report["rating"] is not None:
        r = report["rating"]
        lines.append(f"rating: RMSE {r['rmse']:.4f}  MAE {r['mae']:.4f}")
    ranking = report["ranking"]
    if ranking is None:
        lines.append("ranking: no relevant pair to rank")
        return "\n".join(lines)
    which = ("every scored pair" if report["threshold"] is None
             else f"rating >= {report['threshold']:g}")  # fmt: skip
    options = [f"items with >= {report['min_support']} training interactions"
               ] * bool(report.get("min_support"))  # fmt: skip
    options += [f"shrinkage beta {report['shrinkage']:g}"] * bool(
        report.get("shrinkage")
    )
    ranked = f"; ranked: {', '.join(options)}" if options else ""
    lines.append(f"ranking (full catalogue, relevant: {which}{ranked}; "
                 f"{ranking['n_users']} users):")  # fmt: skip
    names = [f"{m}@{k}" for k in report["ks"] for m in ("hr", "ndcg", "recall", "map")]
    for name in [*names, "auc", "mrr"]:
        lines.append(f"  {name:<12} {ranking[name]:.4f}")
    return "\n".join(lines)
