"""The same ``fit`` on one device and on a mesh of 8 simulated CPU devices.

The 8-device run needs XLA_FLAGS set before JAX starts, so it runs in a
subprocess (tests/multidevice/check_mesh.py) and the rest of the suite keeps
its one device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
N_DEVICES = 8


def _env(**extra) -> dict:
    """The environment of a subprocess that imports this checkout's package (a
    script's own folder, not the working directory, heads its sys.path)."""
    path = os.pathsep.join(
        filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])
    )
    return {**os.environ, "PYTHONPATH": path, **extra}


@pytest.fixture(scope="module")
def mesh_report():
    env = _env(XLA_FLAGS=f"--xla_force_host_platform_device_count={N_DEVICES}")
    run = subprocess.run(
        [sys.executable, str(HERE / "multidevice" / "check_mesh.py"), str(N_DEVICES)],
        capture_output=True, text=True, env=env, cwd=HERE.parent, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_subprocess_sees_eight_devices(mesh_report):
    assert mesh_report["devices_seen"] == N_DEVICES
    # 60 users: the row axis is padded to 64 on the mesh and cut back after.
    assert mesh_report["n_users"] % N_DEVICES != 0
    # The code under test is this checkout's, not another installed copy.
    assert Path(mesh_report["package"]).resolve().is_relative_to(HERE.parent)


@pytest.mark.parametrize(
    "case", ["explicit_lazy_adam", "explicit_dense_adam", "implicit_sgd"]
)
def test_eight_devices_train_the_parameters_of_one(mesh_report, case):
    report = mesh_report[case]
    assert report["sharded"]  # the 8-device result lives on the mesh
    assert report["shapes_equal"]  # U and I rows, as on one device
    assert report["params_moved"] > 1e-2  # the epochs did train
    assert report["param_difference"] < 1e-5
    assert report["opt_state_difference"] < 1e-5


@pytest.mark.parametrize(
    "case", ["explicit_lazy_adam", "explicit_dense_adam", "implicit_sgd"]
)
def test_eight_devices_evaluate_to_the_same_metrics(mesh_report, case):
    one, many = mesh_report[case]["metrics_one"], mesh_report[case]["metrics_many"]
    assert one.keys() == many.keys()
    for name in one:
        assert abs(one[name] - many[name]) < 1e-5, name


def test_full_catalogue_scores_are_split_by_users_and_equal(mesh_report):
    scores = mesh_report["scores"]
    assert scores["devices"] == N_DEVICES and scores["shape_equal"]
    assert scores["difference"] < 1e-5


def test_each_batch_is_split_across_the_devices(mesh_report):
    """Data parallelism: the epoch's program splits every batch's user and
    item ids over the mesh (without it each device would take whole batches,
    with equal results)."""
    assert mesh_report["batch_split_constraints"] >= 2


def test_a_second_fit_on_the_mesh_compiles_nothing(mesh_report):
    assert mesh_report["second_fit_compiles"] == 0


def _free_port() -> int | None:
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    except OSError:
        return None


def test_two_processes_train_the_model_of_one(tmp_path):
    """jax.distributed over two local CPU processes (gloo collectives), a mesh
    spanning both: the gathered parameters and losses are those of one process."""
    import numpy as np

    port = _free_port()
    if port is None:
        pytest.skip("cannot bind a TCP port on 127.0.0.1 for the coordinator")
    worker = HERE / "multidevice" / "distributed_worker.py"
    env = {k: v for k, v in _env().items() if k != "XLA_FLAGS"}
    address = f"127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(worker),
                address,
                "2",
                str(i),
                str(tmp_path / f"two_{i}.npz"),
                str(tmp_path / "checkpoints"),  # gathered by both, written by 0
            ],
            env=env,
            cwd=HERE.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "done" in out and out.split()[-1] == "2"  # two devices, one each
    one = subprocess.run(
        [sys.executable, str(worker), "-", "1", "0", str(tmp_path / "one.npz")],
        env=env, cwd=HERE.parent, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    two, ref = np.load(tmp_path / "two_0.npz"), np.load(tmp_path / "one.npz")
    assert sorted(two.files) == sorted(ref.files)
    for name in ref.files:
        np.testing.assert_allclose(two[name], ref[name], rtol=1e-5, atol=1e-6)
    assert ref["losses"][-1] < ref["losses"][0]  # it trained
    assert any((tmp_path / "checkpoints").iterdir())


def test_initialize_reads_flags_then_the_environment(monkeypatch):
    """Explicit values win; else $JAX_COORDINATOR_ADDRESS, $JAX_NUM_PROCESSES
    and $JAX_PROCESS_ID, each to its own argument; bad values are named."""
    import jax

    from hybridrec_jax.train import distributed

    joined = []
    monkeypatch.setattr(jax.distributed, "initialize",
                        lambda **kwargs: joined.append(kwargs))  # fmt: skip
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:99")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    distributed.initialize()
    distributed.initialize("10.0.0.2:7", 2, 0)
    assert joined == [
        {"coordinator_address": "10.0.0.1:99", "num_processes": 4, "process_id": 3},
        {"coordinator_address": "10.0.0.2:7", "num_processes": 2, "process_id": 0},
    ]
    for name in distributed.ENVIRONMENT:
        monkeypatch.delenv(name)
    distributed.initialize()  # nothing given: JAX detects the cluster
    assert joined[-1] == dict.fromkeys(joined[-1])
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match=r"\$JAX_NUM_PROCESSES='two'.*--num-processes"):
        distributed.initialize()
    with pytest.raises(ValueError, match="outside 0..1"):
        distributed.initialize("h:1", 2, 2)
    assert len(joined) == 3
