"""The listing walk: delimiter roll-up, jumping past common prefixes, truncation."""
from __future__ import annotations

import bisect

from nubis.services.s3 import listing
from nubis.services.s3.listing import walk


class Keys:
    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.fetches = 0

    def fetch(self, prefix: str):
        def run(after: str, n: int) -> list[str]:
            self.fetches += 1
            i = bisect.bisect_right(self.keys, after)
            return [k for k in self.keys[i:] if k.startswith(prefix)][:n]
        return run


def entries(keys: list[str], prefix: str = "", delimiter: str = "", after: str = "", limit: int = 1000):
    k = Keys(keys)
    out, truncated = walk(k.fetch(prefix), lambda x: x, prefix, delimiter, after, limit)
    return [(kind, v) for kind, v in out], truncated


def test_plain_listing_and_truncation():
    keys = ["a", "b", "c"]
    assert entries(keys) == ([("o", "a"), ("o", "b"), ("o", "c")], False)
    assert entries(keys, limit=2) == ([("o", "a"), ("o", "b")], True)
    assert entries(keys, limit=3) == ([("o", "a"), ("o", "b"), ("o", "c")], False)
    assert entries(keys, after="a") == ([("o", "b"), ("o", "c")], False)
    assert entries(keys, limit=0) == ([], False)


def test_delimiter_rolls_up_and_counts_prefixes_once():
    keys = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2"]
    assert entries(keys, delimiter="/") == ([("p", "a/"), ("o", "b"), ("p", "c/")], False)
    assert entries(keys, delimiter="/", limit=2) == ([("p", "a/"), ("o", "b")], True)
    assert entries(keys, prefix="a/", delimiter="/") == ([("o", "a/1"), ("o", "a/2"), ("p", "a/b/")], False)
    assert entries(keys, delimiter="/", after="a/" + listing.PAST) == ([("o", "b"), ("p", "c/")], False)


def test_common_prefix_is_skipped_with_one_query(monkeypatch):
    monkeypatch.setattr(listing, "BATCH", 10)
    keys = [f"big/{i:05d}" for i in range(1000)] + ["z"]
    k = Keys(keys)
    out, truncated = walk(k.fetch(""), lambda x: x, "", "/", "", 1000)
    assert out == [("p", "big/"), ("o", "z")] and not truncated
    assert k.fetches <= 3  # not 100 batches of 10


def test_multichar_delimiter():
    assert entries(["x--y--z", "x--w", "q"], delimiter="--") == ([("o", "q"), ("p", "x--")], False)
