"""A stack operation that breaks off with an unexpected error (a bug) fails its stack instead of leaving it
*_IN_PROGRESS for good, where waiters would poll forever and no update or delete could follow."""
import asyncio
from pathlib import Path

from nubis.services.cloudformation.provider import CloudFormationProvider
from nubis.services.cloudformation.store import Stack
from nubis.store.db import Database


def test_a_broken_operation_fails_its_stack(tmp_path: Path) -> None:
    provider = CloudFormationProvider(Database(tmp_path / "db.sqlite"), "http://127.0.0.1:1", b"secret")
    stack_id = "arn:aws:cloudformation:us-east-1:000000000000:stack/s/1"
    provider.store.put_stack(Stack(stack_id, "000000000000", "us-east-1", "s", "CREATE_IN_PROGRESS"))

    def broken() -> None:
        raise TypeError("argument of type 'int' is not iterable")

    asyncio.run(provider.run_operation(stack_id, broken))
    stack = provider.store.stack("000000000000", "us-east-1", "s")
    assert (stack.status, stack.reason) == ("CREATE_FAILED", "Internal failure: argument of type 'int' is not iterable")
    assert provider.store.events(stack_id)[0]["ResourceStatus"] == "CREATE_FAILED"

    provider.store.put_stack(Stack(stack_id, "000000000000", "us-east-1", "s", "DELETE_COMPLETE"))
    asyncio.run(provider.run_operation(stack_id, broken))  # a finished stack is left as it is
    assert provider.store.stack("000000000000", "us-east-1", stack_id).status == "DELETE_COMPLETE"
    provider.pool.shutdown()
