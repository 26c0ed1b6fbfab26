"""A lean HTTP/1.1 load generator: keep-alive connections, requests encoded once, latency per request.

It runs on the same machine as the server, so it must cost as little as it can: no client library, no
JSON per request, one coroutine per connection. Every run is bounded by a request count and a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    by_kind: dict[str, Counter[int]] = field(default_factory=dict)
    dropped: int = 0  # connections that failed or closed under a request
    elapsed: float = 0.0
    spread: list[int] = field(default_factory=list)  # connections per server worker, when asked
    reopened: int = 0  # times every connection was opened again to spread them over the workers

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict:
        return {
            "requests": len(self.latencies),
            "seconds": round(self.elapsed, 3),
            "requests_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile(0.50) * 1e3, 2),
            "p99_ms": round(self.percentile(0.99) * 1e3, 2),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "dropped": self.dropped,
        } | ({"connections_per_worker": self.spread, "reopened": self.reopened} if self.spread else {})


@dataclass(frozen=True)
class Request:
    kind: str  # a label the tally counts statuses under, e.g. "valid" or "unknown column"
    raw: bytes


def encode(host: str, port: int, path: str, body: bytes, kind: str = "valid", extra: str = "") -> Request:
    """A request as bytes on the wire; `extra`: more header lines, each ending in CRLF."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return Request(kind, head.encode("ascii") + body)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server closes the connection after it."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = value == b"close"
    if not chunked:
        await reader.readexactly(length)
        return status, close
    while size := int((await reader.readline()).split(b";")[0], 16):
        await reader.readexactly(size + 2)
    await reader.readline()
    return status, close


def spread_out(counts: list[int], concurrency: int) -> bool:
    """Whether every worker holds at least half its share of the connections (with fewer connections
    than two per worker, any spread is)."""
    return min(counts) >= concurrency // (2 * len(counts))


async def _accepted(spread: Callable[[], list[int]], concurrency: int, within: float = 2.0) -> list[int]:
    """The connections per worker once the workers have accepted all of them (or after `within` s)."""
    deadline = time.perf_counter() + within
    while sum(counts := spread()) < concurrency and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
    return counts


async def run(
    host: str,
    port: int,
    requests: list[Request],
    concurrency: int,
    total: int,
    seconds: float,
    spread: Callable[[], list[int]] | None = None,
    tries: int = 10,
) -> Tally:
    """Send up to `total` requests (cycling through `requests`) over `concurrency` connections.

    Connections open before the clock starts; the run stops at `total` requests or after `seconds`.
    `spread`: the connections each worker of the server holds. The workers of a server share one
    listening socket, and a worker that wakes up first accepts every connection waiting: opened at once,
    all of them can land on one worker, and the other cores idle. With `spread`, the connections are
    opened again (up to `tries` times) until each worker holds at least half its share.
    """
    tally = Tally(by_kind={request.kind: Counter() for request in requests})
    counter = itertools.count()
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    for attempt in range(tries if spread is not None else 0):
        tally.spread = await _accepted(spread, concurrency)
        if len(tally.spread) < 2 or spread_out(tally.spread, concurrency) or attempt == tries - 1:
            break
        for _, writer in connections:
            writer.close()
        tally.reopened += 1
        connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]

    async def client(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        while (index := next(counter)) < total and time.perf_counter() < stop_at:
            request = requests[index % len(requests)]
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                reader, writer = connection
                started = time.perf_counter()
                writer.write(request.raw)
                status, close = await _response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                tally.dropped += 1
                connection = None
                continue
            tally.latencies.append(time.perf_counter() - started)
            tally.statuses[status] += 1
            tally.by_kind[request.kind][status] += 1
            if close:
                writer.close()
                connection = None
        if connection is not None:
            connection[1].close()

    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(client(connection) for connection in connections))
    tally.elapsed = time.perf_counter() - started
    return tally
