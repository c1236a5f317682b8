"""Row-sparse updates of the id tables (README, "Scale").

``jax.grad`` of a gather ``P[u]`` is a table-shaped scatter, and a dense optax
optimiser then reads and writes every row of every table at every step: the
cost of a step grows with the number of users and items. Here the gradient is
taken with respect to the gathered rows instead, duplicates of an id within the
batch are summed, and only the rows a batch touches are read and written:

    g_r = sum_{b : id_b = r} dJ/d(row_b)          (segment sum over the batch)
    T[r] <- T[r] + delta(g_r, state[r])           for the touched rows r only.

The touched ids come from ``jnp.unique(ids, size=B)``: one fixed shape under
``jit``, padded with the out-of-range id N (the table size), whose updates a
``mode="drop"`` scatter discards. Padding rows of a batch (mask 0) are mapped
to N before, so they touch nothing.

The row rules, for a touched row with summed gradient g (eta the learning rate):

- ``sgd``: T[r] <- T[r] - eta g; with momentum mu, m[r] <- mu m[r] + g and
  T[r] <- T[r] - eta m[r]. Without momentum it equals dense SGD exactly (an
  untouched row has g = 0); with momentum the buffer of an untouched row does
  not decay or move its row (lazy momentum).
- ``adagrad``: s[r] <- s[r] + g^2, T[r] <- T[r] - eta g / sqrt(s[r] + eps),
  s starting at 0.1: equal to ``optax.adagrad`` exactly (an untouched row's
  accumulator and row do not change under the dense rule either).
- ``adam`` (lazy Adam): with a per-row step count c[r] <- c[r] + 1,
  m[r] <- b1 m[r] + (1 - b1) g, v[r] <- b2 v[r] + (1 - b2) g^2,
  T[r] <- T[r] - eta m_hat / (sqrt(v_hat) + eps), m_hat = m[r] / (1 - b1^c[r]),
  v_hat = v[r] / (1 - b2^c[r]). Dense Adam (``optax.adam``) instead decays the
  moments of every row at every step and keeps moving an untouched row with its
  old momentum, with one global bias correction; lazy Adam leaves an untouched
  row and its moments alone and corrects each row by its own count (as
  TensorFlow Addons' LazyAdam, but with a per-row count). When every row is
  touched at every step the two are equal.

The dense parameters (MLP, head, feature maps) keep optax's optimiser.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from hybridrec_jax.model.params import SIDE_TABLES, SIDES, Params

ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8  # optax.adam's defaults
ADAGRAD_INIT, ADAGRAD_EPS = 0.1, 1e-7  # optax.adagrad's defaults


class RowSparseOptimizer(NamedTuple):
    """An optax transformation for ``params["dense"]`` and a row rule for the id
    tables of ``params["embeddings"]``.

    Attributes:
        dense: the optax ``GradientTransformation`` of the dense parameters.
        rule: "sgd", "adagrad" or "adam" (the row rules of the module docstring).
        learning_rate: eta of the row rule.
        momentum: mu of the "sgd" rule (0: plain SGD, no buffer).
    """

    dense: optax.GradientTransformation
    rule: str
    learning_rate: float
    momentum: float = 0.0

    def init(self, params: Params) -> dict:
        """The optimiser state: {"dense": optax state of params["dense"],
        "rows": {table: {slot: (N, ...) float32}, "<side>_count": (N,) int32}}.

        Slots per table: none ("sgd"), "momentum" ("sgd" with momentum),
        "sum_of_squares" ("adagrad", starting at 0.1), "mu" and "nu" ("adam",
        with one step count per user and per item).
        """
        rows = {}
        for side in SIDES:
            for name in SIDE_TABLES[side]:
                table = params["embeddings"][name]
                rows[name] = _init_slots(self, table)
            if self.rule == "adam":
                n = params["embeddings"][side].shape[0]
                rows[f"{side}_count"] = jnp.zeros((n,), jnp.int32)
        return {"dense": self.dense.init(params["dense"]), "rows": rows}


def _init_slots(opt: RowSparseOptimizer, table: jax.Array) -> dict:
    if opt.rule == "adam":
        return {"mu": jnp.zeros_like(table), "nu": jnp.zeros_like(table)}
    if opt.rule == "adagrad":
        return {"sum_of_squares": jnp.full_like(table, ADAGRAD_INIT)}
    if opt.momentum:
        return {"momentum": jnp.zeros_like(table)}
    return {}


def touched_rows(ids: jax.Array, mask: jax.Array, n_rows: int):
    """The distinct ids of a batch, padded to its size, and where each row goes.

    Args:
        ids: (B,) int32 user or item ids.
        mask: (B,) float, 1 for real rows, 0 for padding.
        n_rows: N, the table's number of rows (the padding id).

    Returns:
        (unique (B,) int32 sorted ids, then N for padding; inverse (B,) int32
        with unique[inverse[b]] = ids[b] for the real rows; first (B,) int32, a
        batch row holding each unique id).
    """
    ids = jnp.where(mask > 0, ids, n_rows)
    unique, first, inverse = jnp.unique(
        ids, size=ids.shape[0], fill_value=n_rows, return_index=True,
        return_inverse=True,
    )  # fmt: skip
    return unique, inverse.reshape(ids.shape), first


def segment_rows(grad_rows: jax.Array, inverse: jax.Array) -> jax.Array:
    """g_r = sum over the batch rows b with unique[inverse[b]] = r of grad_rows[b].

    Args:
        grad_rows: (B, ...) dJ/d(row_b), the gradient of each gathered row.
        inverse: (B,) int32 from :func:`touched_rows`.

    Returns:
        (B, ...) summed gradients in the order of the unique ids.
    """
    return jax.ops.segment_sum(grad_rows, inverse, num_segments=inverse.shape[0])


def _gather(array: jax.Array, index: jax.Array) -> jax.Array:
    # The padding id N is out of range: read zeros there (its update is dropped).
    return array.at[index].get(mode="fill", fill_value=0, indices_are_sorted=True)


def _scatter(array: jax.Array, index: jax.Array, values: jax.Array) -> jax.Array:
    # Sorted, and distinct apart from the out-of-range padding, which is dropped.
    return array.at[index].set(
        values, mode="drop", indices_are_sorted=True, unique_indices=True
    )


def update_table(
    opt: RowSparseOptimizer,
    table: jax.Array,
    slots: dict,
    unique: jax.Array,
    grad: jax.Array,
    count: jax.Array | None,
    rows: jax.Array,
) -> tuple[jax.Array, dict]:
    """One row-sparse step of one id table (the rules of the module docstring).

    Args:
        opt: the optimiser.
        table: (N, ...) float32 id table T.
        slots: its optimiser slots ({} for plain SGD), each shaped like T.
        unique: (B,) int32 touched ids, padded with N (:func:`touched_rows`).
        grad: (B, ...) summed gradient of each touched row (:func:`segment_rows`).
        count: (B,) int32 step count of each touched row after this step
            ("adam" only).
        rows: (B, ...) T[unique], the current rows (taken from the batch's
            gathered rows, so the table is not read twice).

    Returns:
        (the updated table, the updated slots); rows not in ``unique`` unchanged.
    """
    eta = opt.learning_rate
    if opt.rule == "sgd" and not opt.momentum:
        return _scatter(table, unique, rows - eta * grad), slots
    if opt.rule == "sgd":
        m = opt.momentum * _gather(slots["momentum"], unique) + grad
        return _scatter(table, unique, rows - eta * m), {
            "momentum": _scatter(slots["momentum"], unique, m)
        }
    if opt.rule == "adagrad":
        s = _gather(slots["sum_of_squares"], unique) + grad**2
        new_rows = rows - eta * grad * jax.lax.rsqrt(s + ADAGRAD_EPS)
        return _scatter(table, unique, new_rows), {
            "sum_of_squares": _scatter(slots["sum_of_squares"], unique, s)
        }
    m = ADAM_B1 * _gather(slots["mu"], unique) + (1 - ADAM_B1) * grad
    v = ADAM_B2 * _gather(slots["nu"], unique) + (1 - ADAM_B2) * grad**2
    c = jnp.maximum(count, 1).astype(jnp.float32)
    c = c.reshape(c.shape + (1,) * (grad.ndim - 1))
    m_hat = m / (1 - ADAM_B1**c)
    v_hat = v / (1 - ADAM_B2**c)
    new_rows = rows - eta * m_hat / (jnp.sqrt(v_hat) + ADAM_EPS)
    return _scatter(table, unique, new_rows), {
        "mu": _scatter(slots["mu"], unique, m),
        "nu": _scatter(slots["nu"], unique, v),
    }


def apply_row_updates(
    opt: RowSparseOptimizer,
    embeddings: dict,
    row_state: dict,
    grad_rows: dict,
    ids: dict,
    mask: jax.Array,
    rows: dict,
) -> tuple[dict, dict]:
    """Update every id table from the gradients of its gathered rows.

    Args:
        opt: the optimiser.
        embeddings: ``params["embeddings"]`` ({"user": (U, d), ..., "item_bias":
            (I,)}).
        row_state: ``opt.init(params)["rows"]``.
        grad_rows: dJ/d(rows) for the rows of ``model.embedding_rows``
            ({"user": (B, d), ..., "item_bias": (B,)}).
        ids: {"user": (B,) int32, "item": (B,) int32} the batch's ids.
        mask: (B,) float, 1 for real rows.
        rows: the batch's gathered rows (``model.embedding_rows``), same keys
            and shapes as ``grad_rows``.

    Returns:
        (new embeddings, new row state); cost O(B), whatever U and I.
    """
    embeddings, row_state = dict(embeddings), dict(row_state)
    for side in SIDES:
        n_rows = embeddings[side].shape[0]
        unique, inverse, first = touched_rows(ids[side], mask, n_rows)
        count = None
        if opt.rule == "adam":
            counts = row_state[f"{side}_count"]
            count = _gather(counts, unique) + 1
            row_state[f"{side}_count"] = _scatter(counts, unique, count)
        for name in SIDE_TABLES[side]:
            grad = segment_rows(grad_rows[name], inverse)
            embeddings[name], row_state[name] = update_table(
                opt, embeddings[name], row_state[name], unique, grad, count,
                rows[name][first],
            )  # fmt: skip
    return embeddings, row_state
