"""The chunk objects: valid rows accumulated into chunks of ``chunk_rows`` and written to S3
(``keys.chunk``, as ``chunks.ChunkBody``), several PUTs at a time."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from intercom_importer import keys
from intercom_importer.chunks import ChunkBody
from intercom_importer.sequences import batched

CHUNK_PUTS_IN_FLIGHT = 8  # chunk objects written concurrently (and at most this many held in memory)
_DELETE_BATCH = 1000  # keys per DeleteObjects call (S3's maximum)


class ChunkWriter:
    """Accumulates valid rows and writes each full chunk to S3, several PUTs at a time.

    Chunk numbers follow the file order (given when a chunk is full). Up to ``in_flight`` PUTs overlap, so S3's
    latency does not bound the validator; a full window waits for its oldest PUT, so at most ``in_flight``
    chunk bodies are held. A failed PUT is raised by the next ``add``/``checkpoint``/``flush``.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        job_id: str,
        rows_per_chunk: int,
        *,
        count: int = 0,
        pending: list[dict[str, Any]] | None = None,
        in_flight: int = CHUNK_PUTS_IN_FLIGHT,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._job_id = job_id
        self._size = rows_per_chunk
        self._rows: list[dict[str, Any]] = list(pending or [])
        self._limit = max(1, in_flight)
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: deque[Future[None]] = deque()
        self.count = count

    def add(self, line: int, cells: list[str], record: dict[str, Any]) -> None:
        self._rows.append({"line": line, "cells": cells, "record": record})
        if len(self._rows) >= self._size:
            self._write()

    def _write(self) -> None:
        self.count += 1
        body = ChunkBody(self._job_id, self.count, self._rows).to_json()
        self._rows = []
        while self._in_flight and (len(self._in_flight) >= self._limit or self._in_flight[0].done()):
            self._in_flight.popleft().result()  # raises the PUT's error
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._limit, thread_name_prefix="chunk-put")
        self._in_flight.append(self._pool.submit(self._put, self.count, body))

    def _put(self, index: int, body: bytes) -> None:
        self._s3.put_object(
            Bucket=self._bucket, Key=keys.chunk(self._job_id, index), Body=body, ContentType="application/json"
        )

    def _drain(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().result()

    def checkpoint(self) -> tuple[int, list[dict[str, Any]]]:
        """Chunks written so far (all of them durable on return) and the rows of the next, unfinished one."""
        self._drain()
        return self.count, list(self._rows)

    def flush(self) -> int:
        if self._rows:
            self._write()
        self._drain()
        return self.count

    def discard(self) -> None:
        """Delete the chunks written so far (the file was rejected)."""
        wait(list(self._in_flight))
        self._in_flight.clear()
        chunks = [{"Key": keys.chunk(self._job_id, i)} for i in range(1, self.count + 1)]
        for batch in batched(chunks, _DELETE_BATCH):
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
        self._rows = []
        self.count = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
