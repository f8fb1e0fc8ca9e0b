"""Throughput check: ``python -m intercom_sandbox.loadtest [--url URL] [--processes 2] [--connections 20]``.

Without ``--url`` it starts a sandbox in this process (latency 0, no rate limit). Client processes
(spawned, so they don't share the server's GIL) each open ``--connections`` keep-alive connections
with ``http.client`` and loop over a workload:

- ``import`` (default): create a user, update it, search it by external_id (the importer's calls);
- ``me``: ``GET /me`` only (the server's floor cost per request).

Prints one line of JSON: requests, seconds, requests per second, statuses and latency percentiles.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

HEADERS = {
    "Authorization": "Bearer loadtest",
    "Accept": "application/json",
    "Content-Type": "application/json",
    "Intercom-Version": "2.14",
}


def _connection_worker(host: str, port: int, count: int, workload: str, out: list[Any]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    prefix = uuid.uuid4().hex[:8]

    def send(method: str, path: str, body: object = None) -> Any:
        started = time.perf_counter()
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=HEADERS)
        response = conn.getresponse()
        payload = response.read()
        latencies.append(time.perf_counter() - started)
        statuses[response.status] += 1
        return json.loads(payload) if response.status == 200 else None

    done = 0
    while done < count:
        if workload == "me":
            send("GET", "/me")
            done += 1
            continue
        external_id = f"{prefix}-{done}"
        contact = send("POST", "/contacts", {"external_id": external_id, "email": f"{external_id}@example.com"})
        if contact is not None:
            send("PUT", f"/contacts/{contact['id']}", {"name": "Load Test"})
        send(
            "POST",
            "/contacts/search",
            {"query": {"field": "external_id", "operator": "IN", "value": [external_id]}},
        )
        done += 3
    conn.close()
    out.append((statuses, latencies))


def _process_worker(url: str, connections: int, count: int, workload: str, queue: Any) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    results: list[Any] = []
    per_connection = max(1, count // connections)
    threads = [
        threading.Thread(target=_connection_worker, args=(host, port, per_connection, workload, results))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    for s, lat in results:
        statuses.update(s)
        latencies.extend(lat)
    queue.put((dict(statuses), latencies))


def run(url: str, processes: int, connections: int, total: int, workload: str) -> dict[str, Any]:
    """Hammer ``url`` and return the measurements."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_process_worker, args=(url, connections, total // processes, workload, queue))
        for _ in range(processes)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=10)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    for s, lat in results:
        statuses.update(s)
        latencies.extend(lat)
    latencies.sort()
    count = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100) if count >= 2 else [0.0] * 99
    return {
        "workload": workload,
        "processes": processes,
        "connections": processes * connections,
        "requests": count,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(count / elapsed),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {
            "p50": round(quantiles[49] * 1000, 2),
            "p95": round(quantiles[94] * 1000, 2),
            "p99": round(quantiles[98] * 1000, 2),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intercom_sandbox.loadtest", description=__doc__)
    parser.add_argument("--url", help="a running sandbox (default: start one in this process)")
    parser.add_argument("--processes", type=int, default=2, help="client processes (default: 2)")
    parser.add_argument("--connections", type=int, default=20, help="keep-alive connections per process")
    parser.add_argument("--requests", type=int, default=20_000, help="total requests (default: 20000)")
    parser.add_argument("--workload", choices=("import", "me"), default="import")
    args = parser.parse_args(argv)

    if args.url:
        print(json.dumps(run(args.url, args.processes, args.connections, args.requests, args.workload)))
        return 0
    from intercom_sandbox.server import SandboxServer

    with SandboxServer() as server:
        result = run(server.url, args.processes, args.connections, args.requests, args.workload)
        result["server_stats_total"] = server.stats()["total_requests"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
