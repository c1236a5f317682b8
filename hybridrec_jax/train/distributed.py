"""Many hosts: one process per host, one program (README, "Scale: many hosts").

``initialize`` wires ``jax.distributed.initialize`` from explicit values, else
the environment variables ``JAX_COORDINATOR_ADDRESS`` (host:port of process
0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``, else JAX's detection of the
cluster it runs in (SLURM, Open MPI, Kubernetes, Cloud TPU). After it,
``jax.devices()`` lists the devices of every process, so ``TrainConfig(devices=0)``
trains on a mesh spanning all hosts with the very ``fit`` of one device: every
process runs the same program on the same data and seed, each holding its
shards of the tables. Parameters of such a run are global arrays; gather them
with :func:`gather` (every process gets the full values).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

ENVIRONMENT = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> tuple[int, int]:
    """Join (or start, as process 0) a multi-process JAX run.

    Args:
        coordinator_address: "host:port" of process 0's coordinator; default
            ``$JAX_COORDINATOR_ADDRESS``.
        num_processes: the number of processes; default ``$JAX_NUM_PROCESSES``.
        process_id: this process's index in 0..num_processes-1; default
            ``$JAX_PROCESS_ID``.

    With none of them given anywhere, JAX detects the cluster.

    Returns:
        (process index, process count) as JAX sees them after joining.

    Raises:
        ValueError: a process id outside 0..num_processes-1, or a value that
            is not an integer (named, with where it came from).
    """
    coordinator_address = coordinator_address or os.environ.get(ENVIRONMENT[0])
    num_processes = _integer(num_processes, ENVIRONMENT[1], "--num-processes")
    process_id = _integer(process_id, ENVIRONMENT[2], "--process-id")
    if None not in (num_processes, process_id) and not (
        0 <= process_id < num_processes
    ):
        raise ValueError(
            f"process id {process_id} is outside 0..{num_processes - 1} for "
            f"{num_processes} processes"
        )
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
    return jax.process_index(), jax.process_count()


def _integer(value, variable: str, flag: str) -> int | None:
    if value is not None:
        return int(value)
    text = os.environ.get(variable)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"${variable}={text!r} is not an integer (expected as {flag})"
        ) from None


def gather(tree: Any) -> Any:
    """Every leaf of ``tree`` as a full numpy array on every process.

    Leaves a process holds whole (one process, or replicated) are read
    directly; sharded global arrays are all-gathered
    (``jax.experimental.multihost_utils.process_allgather``).
    """
    from jax.experimental import multihost_utils

    def fetch(leaf):
        if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
            return np.asarray(leaf)
        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

    return jax.tree.map(fetch, tree)
