"""One process of a two-process CPU run on 127.0.0.1 (tests/test_multidevice.py).

    python distributed_worker.py ADDRESS N_PROCESSES PROCESS_ID OUT.npz [CKPT_DIR]

Trains the tiny model on a mesh over every process's device; process 0 writes
the gathered parameters (and, with CKPT_DIR, a checkpoint every epoch).
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from hybridrec_jax import ModelConfig, SyntheticConfig, TrainConfig, load_synthetic
from hybridrec_jax.train import CheckpointConfig, fit
from hybridrec_jax.train.distributed import gather, initialize

MODEL = ModelConfig.tiny().replace(dropout=0.2, interaction_dim=0)
TRAIN = TrainConfig.tiny().replace(
    batch_size=64, validation_fraction=0.0, embedding_updates="row_sparse"
)


def main() -> None:
    address, n, index, out = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        sys.argv[4],
    )
    if n > 1:
        assert initialize(address, n, index) == (index, n)
        assert jax.device_count() == n * jax.local_device_count()
    checkpoint = CheckpointConfig(sys.argv[5], every=1) if len(sys.argv) > 5 else None
    data = load_synthetic(SyntheticConfig.tiny())
    result = fit(data, MODEL, TRAIN.replace(devices=0 if n > 1 else 1),
                 checkpoint=checkpoint)  # fmt: skip
    params = gather(result.params)
    if index == 0:
        leaves = jax.tree.leaves(params)
        np.savez(out, *leaves, losses=[h["train_loss"] for h in result.history])
    print("done", jax.process_index(), jax.device_count(), flush=True)


if __name__ == "__main__":
    main()
