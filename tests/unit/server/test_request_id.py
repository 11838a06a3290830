"""Request ids: random version-4 UUIDs in text form, as uuid.uuid4() gives, without a syscall each."""
from __future__ import annotations

import os
import uuid

from nubis.server.context import RequestContext, new_request_id


def test_request_ids_are_distinct_version_4_uuids():
    ids = [new_request_id() for _ in range(3000)]  # several refills of the pool
    assert len(set(ids)) == len(ids)
    for text in ids:
        u = uuid.UUID(text)
        assert u.version == 4 and u.variant == uuid.RFC_4122 and str(u) == text


def test_each_context_gets_its_own_id():
    a = RequestContext(account="1", region="r", service="lambda", endpoint="e")
    b = RequestContext(account="1", region="r", service="lambda", endpoint="e")
    assert a.request_id != b.request_id


def test_a_forked_child_does_not_repeat_the_parents_ids():
    new_request_id()  # the pool holds unused bytes now
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, new_request_id().encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert child != new_request_id()
