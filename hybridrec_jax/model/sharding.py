"""Parameters on a device mesh (README, "Scale: many devices").

One mesh axis, ``data``, of N devices (``jax.sharding``; on CPUs
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` simulates them):

- each training batch is split across the devices (data parallelism);
- the id tables (P, Q, P', Q', b_u, b_i), their optimiser slots and the
  content tables are sharded by rows, so each device holds 1/N of the
  catalogue; the dense parameters (MLP, head, feature maps) are replicated.

XLA's partitioner turns the gathers and the row scatters of the step into
per-shard work plus collectives; the code of the model and the step is the same
on 1 and N devices. JAX shards an axis only in equal blocks, so the row axes
are padded with zero rows to a multiple of N (:func:`pad_rows`): the padding is
never indexed and is cut off again (:func:`unpad_rows`) before anyone outside
the training loop sees the parameters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from hybridrec_jax.model.params import SIDE_TABLES, SIDES

DATA_AXIS = "data"
#: Pytree keys of leaves with one row per user or item: the id tables, the
#: row-sparse optimiser's per-row step counts and the content tables.
ENTITY_KEYS = {
    name: side for side in SIDES for name in (*SIDE_TABLES[side], f"{side}_count")
}


def make_mesh(devices: int) -> Mesh | None:
    """A one-axis mesh ("data") over the first ``devices`` devices JAX sees.

    Args:
        devices: N >= 1, or 0 for every device (``jax.devices()``).

    Returns:
        None for one device (training then runs unsharded), else the Mesh.

    Raises:
        ValueError: more devices asked for than there are (with the flag that
            simulates CPU devices).
    """
    available = jax.devices()
    n = len(available) if devices == 0 else int(devices)
    if n < 0 or n > len(available):
        raise ValueError(
            f"devices={devices} asks for more devices than the {len(available)} "
            f"{available[0].platform} device(s) JAX sees; on a CPU, simulate N "
            "devices with XLA_FLAGS=--xla_force_host_platform_device_count=N "
            "(set before JAX starts)"
        )
    if n <= 1:
        return None
    return Mesh(np.array(available[:n]), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def mesh_of(tree: Any) -> Mesh | None:
    """The mesh a pytree's arrays are sharded on (None: one device)."""
    for leaf in jax.tree.leaves(tree):
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, NamedSharding) and sharding.mesh.size > 1:
            return sharding.mesh
    return None


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split across the ``data`` axis (a batch, a chunk of users)."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def _side_of(path) -> str | None:
    for entry in path:
        side = ENTITY_KEYS.get(getattr(entry, "key", None))
        if side is not None:
            return side
    return None


def _map_entity_leaves(fn, tree):
    """``fn(side, leaf)`` on leaves with one row per user/item, others kept.

    A leaf is an entity leaf when a key on its path names an id table or a
    per-row count (:data:`ENTITY_KEYS`; the content tables {"user": ...,
    "item": ...} share the names of the tables P and Q).
    """

    def visit(path, leaf):
        side = _side_of(path)
        if side is None or not hasattr(leaf, "shape") or leaf.ndim == 0:
            return leaf
        return fn(side, leaf)

    return jax.tree_util.tree_map_with_path(visit, tree)


def pad_rows(tree: Any, multiple: int) -> Any:
    """Pad the row axis of every per-user and per-item leaf to a multiple.

    Args:
        tree: parameters, optimiser state or content tables ({"user": (U, ...),
            ...} anywhere on a leaf's path).
        multiple: N, the number of devices.

    Returns:
        The tree with zero rows appended (optimiser slots: zeros; Adagrad's
        accumulator of a padding row is never read).
    """

    def pad(_, leaf):
        extra = -leaf.shape[0] % multiple
        if not extra:
            return leaf
        return jnp.concatenate([leaf, jnp.zeros((extra, *leaf.shape[1:]), leaf.dtype)])

    return _map_entity_leaves(pad, tree)


def unpad_rows(tree: Any, n_users: int, n_items: int) -> Any:
    """The first U (users) or I (items) rows of every per-user/per-item leaf."""
    rows = {"user": n_users, "item": n_items}
    return _map_entity_leaves(
        lambda side, leaf: leaf if leaf.shape[0] == rows[side] else leaf[: rows[side]],
        tree,
    )


def layout(tree: Any, mesh: Mesh) -> Any:
    """The sharding of every leaf of ``tree`` on the mesh: per-user/per-item
    leaves split by rows, the rest (and empty tables, width 0, which XLA lays
    out replicated) a copy on every device."""
    rows, copy = batch_sharding(mesh), replicated(mesh)

    def pick(path, leaf):
        by_rows = _side_of(path) is not None and getattr(leaf, "ndim", 0) > 0
        return rows if by_rows and leaf.size else copy

    return jax.tree_util.tree_map_with_path(pick, tree)


def shard(tree: Any, mesh: Mesh) -> Any:
    """Place a tree on the mesh as :func:`layout` says. Row counts must be
    multiples of the mesh size (:func:`pad_rows`).

    Args:
        tree: parameters, optimiser state or content tables.
        mesh: the mesh of :func:`make_mesh`.
    """
    return jax.device_put(tree, layout(tree, mesh))


def constrain(tree: Any, mesh: Mesh) -> Any:
    """Inside ``jit``: :func:`layout` as sharding constraints, so that a compiled
    step returns its parameters laid out as it took them (and the next call
    reuses the compiled program)."""
    return jax.lax.with_sharding_constraint(tree, layout(tree, mesh))
