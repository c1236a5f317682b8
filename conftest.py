"""Test-session settings for the whole repository (tests and doctests).

The suite runs many tiny programs, so XLA's compile time dominates their run
time: compile with backend optimisation off (results agree to float tolerance;
the benchmarks, which time things, never see this file).
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
).strip()
