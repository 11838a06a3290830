"""API records held in memory for the request path and written through to one SQLite table (a JSON
document per API), plus API Gateway's identifiers and dates."""
from __future__ import annotations

import secrets
import string
import time
from typing import Callable, Generic, Protocol, TypeVar

import orjson

from ...store.db import Database

_ALPHABET = string.ascii_lowercase + string.digits
API_ID_LEN = 10  # REST, HTTP and WebSocket APIs alike


def new_id(length: int, taken: object = ()) -> str:
    while True:
        value = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if value not in taken:  # type: ignore[operator]
            return value


def now() -> int:
    """API Gateway's dates have whole seconds."""
    return int(time.time())


class Record(Protocol):
    account: str
    region: str

    @property
    def api_id(self) -> str: ...

    def to_doc(self) -> dict: ...


R = TypeVar("R", bound=Record)


class ApiRecords(Generic[R]):
    """`load(account, region, doc)` rebuilds a record from its stored document."""

    def __init__(self, db: Database, table: str, load: Callable[[str, str, dict], R]) -> None:
        self.db = db
        self._table = table
        db.ensure_schema(f"CREATE TABLE IF NOT EXISTS {table} (api_id TEXT PRIMARY KEY, account TEXT NOT NULL, "
                         "region TEXT NOT NULL, doc BLOB NOT NULL);")
        self._by_id: dict[str, R] = {row["api_id"]: load(row["account"], row["region"], orjson.loads(row["doc"]))
                                     for row in db.query(f"SELECT * FROM {table}")}

    def get(self, api_id: str) -> R | None:
        return self._by_id.get(api_id)

    def owned(self, account: str, region: str, api_id: str) -> R | None:
        rec = self._by_id.get(api_id)
        return rec if rec is not None and rec.account == account and rec.region == region else None

    def list(self, account: str, region: str) -> list[R]:
        return [r for r in self._by_id.values() if r.account == account and r.region == region]

    def new_api_id(self) -> str:
        return new_id(API_ID_LEN, self._by_id)

    def save(self, rec: R) -> None:
        self._by_id[rec.api_id] = rec
        self.db.execute(f"INSERT OR REPLACE INTO {self._table} (api_id, account, region, doc) VALUES (?, ?, ?, ?)",
                        (rec.api_id, rec.account, rec.region, orjson.dumps(rec.to_doc())))

    def delete(self, rec: R) -> None:
        self._by_id.pop(rec.api_id, None)
        self.db.execute(f"DELETE FROM {self._table} WHERE api_id = ?", (rec.api_id,))
