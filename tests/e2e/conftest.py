"""End-to-end fixtures: a real `nubis server` on a random port with a temporary data dir."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from nubis_testing import NubisServer, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NubisServer]:
    srv = start_server(tmp_path_factory.mktemp("nubis") / "data")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def lam(server: NubisServer):
    return server.client("lambda")


@pytest.fixture(scope="session")
def logs(server: NubisServer):
    return server.client("logs")


