"""Identifiers seen so far in a file, for in-file duplicate detection with flat memory.

An on-disk SQLite table (stdlib; in Lambda's /tmp) holds a 64-bit hash of each identifier with the line
where it first appeared, so a 10-million-row file does not hold 10 million strings in memory.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from types import TracebackType


class SeenKeys:
    def __init__(self, cache_kib: int = 8192) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="seen-")
        self._db = sqlite3.connect(f"{self._dir.name}/seen.db", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(f"PRAGMA cache_size=-{cache_kib}")
        self._db.execute("CREATE TABLE seen (k INTEGER PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._pending = 0

    def first_line(self, key: str, line: int) -> int | None:
        """Record ``key`` at ``line``; return the earlier line if it was already seen."""
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
        cursor = self._db.execute("INSERT OR IGNORE INTO seen (k, line) VALUES (?, ?)", (digest, line))
        self._pending += 1
        if self._pending >= 50_000:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._pending = 0
        if cursor.rowcount:
            return None
        return int(self._db.execute("SELECT line FROM seen WHERE k = ?", (digest,)).fetchone()[0])

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def __enter__(self) -> SeenKeys:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
