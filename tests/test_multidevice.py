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


@pytest.fixture(scope="module")
def mesh_report():
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={N_DEVICES}",
    }
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


def test_a_second_fit_on_the_mesh_compiles_nothing(mesh_report):
    assert mesh_report["second_fit_compiles"] == 0
