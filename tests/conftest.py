"""Suite-wide settings.

With ``ARRAYSIM_REQUIRE_SPICE=1`` (set by .ci/run) a test that would be skipped for a missing ngspice,
PySpice or SKY130 install fails instead: the SPICE referee must not be skipped in CI.
"""
from __future__ import annotations

import os

import pytest

_MISSING_TOOL = ("ngspice", "pyspice", "sky130", "pdk")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("ARRAYSIM_REQUIRE_SPICE") == "1" and rep.skipped:
        reason = str(rep.longrepr).lower()
        if any(t in reason for t in _MISSING_TOOL):
            rep.outcome = "failed"
            rep.longrepr = f"ARRAYSIM_REQUIRE_SPICE=1 but the test was skipped: {rep.longrepr}"
