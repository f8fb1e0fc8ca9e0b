"""Identifiers seen so far in a file, for in-file duplicate detection with flat memory.

An on-disk SQLite table (stdlib; in Lambda's /tmp) holds each identifier with the line where it first
appeared, so a 10-million-row file does not hold 10 million strings in memory (SQLite's page cache is
bounded; the rest stays on disk). Keys are
checked a block of rows at a time (one ``executemany`` and one join per block), which keeps the cost
to a few microseconds per key.

The database file is consistent between blocks (no transaction open), so a validator checkpoint can
upload it as it is (``path``) and the next invocation can continue with it (``restore_from``).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from types import TracebackType


class SeenKeys:
    def __init__(self, cache_kib: int = 16384, *, restore_from: Callable[[str], None] | None = None) -> None:
        """``restore_from(path)``, when given, writes an earlier ``path`` file (a checkpoint's) to ``path``."""
        self._dir = tempfile.TemporaryDirectory(prefix="seen-")
        self.path = f"{self._dir.name}/seen.db"
        if restore_from is not None:
            restore_from(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{cache_kib}", "temp_store=MEMORY"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (k TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("CREATE TEMP TABLE batch (k TEXT NOT NULL, line INTEGER NOT NULL)")

    def check_block(self, entries: Sequence[tuple[int, str]]) -> list[tuple[int, str, int]]:
        """Record ``(line, key)`` pairs (in file order); return ``(line, key, first_line)`` of duplicates."""
        duplicates: list[tuple[int, str, int]] = []
        firsts: dict[str, int] = {}
        fresh: list[tuple[str, int]] = []
        for line, key in entries:
            if key in firsts:
                duplicates.append((line, key, firsts[key]))
            else:
                firsts[key] = line
                fresh.append((key, line))
        if not fresh:
            return duplicates
        db = self._db
        db.execute("BEGIN")
        db.execute("DELETE FROM batch")
        db.executemany("INSERT INTO batch (k, line) VALUES (?, ?)", fresh)
        earlier = dict(db.execute("SELECT b.k, s.line FROM batch b JOIN seen s ON s.k = b.k").fetchall())
        db.execute("INSERT OR IGNORE INTO seen (k, line) SELECT k, line FROM batch")
        db.execute("COMMIT")
        duplicates += [(line, key, earlier[key]) for key, line in fresh if key in earlier]
        duplicates.sort()
        return duplicates

    def first_line(self, key: str, line: int) -> int | None:
        """Record one key; the earlier line if it was already seen."""
        found = self.check_block([(line, key)])
        return found[0][2] if found else None

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def __enter__(self) -> SeenKeys:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
