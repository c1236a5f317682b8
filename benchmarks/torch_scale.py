"""The scale benchmark's PyTorch side: the same model and data in PyTorch.

    python -m benchmarks.torch_scale '{"users": ..., "items": ..., ...}'

Imports only numpy and torch (run by ``benchmarks.scale`` with an interpreter
that has PyTorch, ``--torch-python``; PyTorch is not a dependency of the
project). The tables are ``nn.Embedding(sparse=True)`` updated by
``SparseAdam``; the MLP by Adam: PyTorch's standard sparse path. Prints one
JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

N_FEATURES = 8


def random_interactions(n_users: int, n_items: int, n: int, seed: int = 0) -> dict:
    """Random interactions and content (the same draws as ``benchmarks.scale``)."""
    rng = np.random.default_rng(seed)
    return {
        "user": rng.integers(0, n_users, n, dtype=np.int32),
        "item": rng.integers(0, n_items, n, dtype=np.int32),
        "rating": rng.integers(1, 6, n).astype(np.float32),
        "user_features": rng.standard_normal((n_users, N_FEATURES), np.float32),
        "item_features": rng.standard_normal((n_items, N_FEATURES), np.float32),
    }


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB


def run_torch(spec: dict) -> dict:
    """Train ``spec["epochs"]`` epochs; ex/s of the epochs after the first."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    data = random_interactions(spec["users"], spec["items"], spec["interactions"])

    class Hybrid(nn.Module):
        def __init__(self):
            super().__init__()
            self.user = nn.Embedding(spec["users"], 32, sparse=True)
            self.item = nn.Embedding(spec["items"], 32, sparse=True)
            self.user_bias = nn.Embedding(spec["users"], 1, sparse=True)
            self.item_bias = nn.Embedding(spec["items"], 1, sparse=True)
            self.mlp = nn.Sequential(
                nn.Linear(64 + 2 * N_FEATURES, 128), nn.ReLU(), nn.Dropout(0.2),
                nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 1),
            )  # fmt: skip

        def forward(self, u, i, xu, xi):
            a0 = torch.cat([self.user(u), self.item(i), xu, xi], dim=1)
            bias = self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0]
            return self.mlp(a0)[:, 0] + bias

    model = Hybrid()
    tables = [model.user.weight, model.item.weight, model.user_bias.weight,
              model.item_bias.weight]  # fmt: skip
    sparse_opt = torch.optim.SparseAdam(tables, lr=1e-3)
    dense_opt = torch.optim.Adam(model.mlp.parameters(), lr=1e-3)
    users = torch.from_numpy(data["user"].astype(np.int64))
    items = torch.from_numpy(data["item"].astype(np.int64))
    ratings = torch.from_numpy(data["rating"])
    xu = torch.from_numpy(data["user_features"])
    xi = torch.from_numpy(data["item_features"])
    seconds = []
    for epoch in range(spec["epochs"]):
        start = time.perf_counter()
        order = torch.from_numpy(np.random.default_rng(epoch).permutation(len(users)))
        for b in range(0, len(order), 1024):
            rows = order[b : b + 1024]
            u, i = users[rows], items[rows]
            loss = torch.mean((model(u, i, xu[u], xi[i]) - ratings[rows]) ** 2)
            sparse_opt.zero_grad()
            dense_opt.zero_grad()
            loss.backward()
            sparse_opt.step()
            dense_opt.step()
        seconds.append(time.perf_counter() - start)
    steady = seconds[1:] or seconds
    return {**spec, "examples_per_second": len(users) * len(steady) / sum(steady),
            "epoch_seconds": seconds, "peak_rss_gib": peak_rss_gib(),
            "device": f"cpu, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} threads"}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run_torch(json.loads(sys.argv[1]))))
