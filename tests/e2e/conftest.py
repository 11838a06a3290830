"""End-to-end fixtures: a real `nubis server` on a random port with a temporary data dir."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from nubis_testing import NubisServer, start_server, stop_server


@pytest.fixture(scope="session", autouse=True)
def shared_with_functions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Functions run confined (own uid, private /tmp): servers started by these tests share the
    session's temp dir with them (NUBIS_SHARED_DIRS), so that recorder functions can write to an
    ``OUT_DIR`` there (see ``nubis_testing.create_function``)."""
    import os

    base = tmp_path_factory.getbasetemp()
    base.chmod(0o711)
    old = os.environ.get("NUBIS_SHARED_DIRS")
    os.environ["NUBIS_SHARED_DIRS"] = str(base)
    yield
    if old is None:
        os.environ.pop("NUBIS_SHARED_DIRS", None)
    else:
        os.environ["NUBIS_SHARED_DIRS"] = old


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


