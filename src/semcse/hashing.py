"""Stable hashes: the same value in every process and on every machine (shards, seeds, held-out splits)."""

from __future__ import annotations

import hashlib


def stable_int(*parts: object, bits: int = 31) -> int:
    """A process-independent hash of ``parts`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (1 << bits)
