"""Fixtures for the protocol tests; the rig itself lives in proto_rig.py (a unique module name,
so test modules can import it whatever other conftest.py files the suite has)."""
from __future__ import annotations

import pytest
from proto_rig import Loopback


@pytest.fixture(scope="module")
def lambda_lb() -> Loopback:
    return Loopback("lambda")


@pytest.fixture(scope="module")
def logs_lb() -> Loopback:
    return Loopback("logs")
