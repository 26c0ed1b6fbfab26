"""`make load`: a bounded load on the service mixing valid and invalid requests; nothing may break it.

20,000 requests at concurrency 32 by default, bounded in time, through keep-alive connections. Each kind
of request must get its own answer (valid: 200; invalid: a 4xx; a body over the limit: 413); no 5xx and
no dropped connection are allowed; the server's memory must stay flat from after warm-up to the end; the
prediction record (a fresh folder, written on SIGTERM at the latest) must hold every valid record served
when `monitor.sample_rate` is 1. Writes reports/load.json; exits 1 when any of that fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}.config import load_params
from {{ cookiecutter.package_name }}.predict import MAX_RECORDS, SCHEMA
from {{ cookiecutter.package_name }}.serving.settings import current

from . import loadgen
from .targets import HOST, cores, held_out_records, memory, recorded, servers, started

OUT = Path("reports/load.json")
RECORDS = Path("reports/load-records")  # the prediction record of this run only
REQUEST_ID = "make-load"
GROWTH_ALLOWED = 0.10  # resident memory may grow this much (and 16 MiB) from after warm-up to the end


def payloads(records: list[dict]) -> dict[str, tuple[bytes, set[int]]]:
    """Each kind of request with the statuses it may get."""
    first = records[0]
    required = next(column.name for column in SCHEMA.features if not column.nullable)
    numeric = next((column.name for column in SCHEMA.features if column.numeric), required)
    invalid = {400, 422}
    kinds = {
        "valid, 1 record": ({"records": [first]}, {200}),
        "valid, 100 records": ({"records": (records * 100)[:100]}, {200}),
        "unknown column": ({"records": [first | {"no_such_column": 1}]}, invalid),
        "missing column": ({"records": [{k: v for k, v in first.items() if k != required}]}, invalid),
        "wrong type": ({"records": [first | {numeric: "abc"}]}, invalid),
        "empty batch": ({"records": []}, invalid),
        "not a list": ({"records": first}, invalid),
        "too many records": ({"records": (records * (MAX_RECORDS + 1))[: MAX_RECORDS + 1]}, invalid),
    }
    encoded = {kind: (json.dumps(body).encode(), statuses) for kind, (body, statuses) in kinds.items()}
    encoded["malformed JSON"] = (b'{"records": [', invalid)
    encoded["NaN"] = (
        json.dumps({"records": [first | {numeric: 0.5}]}).replace("0.5", "NaN").encode(),
        invalid,
    )
    encoded["not JSON at all"] = (b"\x00\xff" * 64, invalid)
    padding = json.dumps({"records": [first], "padding": "x" * current().max_body_bytes}).encode()
    encoded["body over the limit"] = (padding, {413})
    return encoded


# How often each kind comes in a cycle of requests: mostly valid single records, every invalid kind, and
# few of the kinds that are costly to send at all (a body over the limit is a whole MiB on the wire).
WEIGHTS = {"valid, 1 record": 360, "valid, 100 records": 30, "too many records": 3, "body over the limit": 1}
VALID_ROWS = {"valid, 1 record": 1, "valid, 100 records": 100}


def valid_rows(tally: loadgen.Tally) -> int:
    """The records answered with 200: each one the service served, so each one it must record."""
    return sum(rows * tally.by_kind.get(kind, {}).get(200, 0) for kind, rows in VALID_ROWS.items())


def mix(port: int, kinds: dict[str, tuple[bytes, set[int]]]) -> list[loadgen.Request]:
    cycle = [kind for kind in kinds for _ in range(WEIGHTS.get(kind, 24))]
    cycle = [cycle[(i * 7919) % len(cycle)] for i in range(len(cycle))]  # spread the kinds out
    tag = f"X-Request-Id: {REQUEST_ID}\r\n"  # what the record holds of this load, apart from the probe
    return [loadgen.encode(HOST, port, "/predict", kinds[kind][0], kind, tag) for kind in cycle]


def say(line: str) -> None:
    """Progress as plain lines on stderr, as each phase starts."""
    print(f"load: {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make load", description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--seconds", type=float, default=240.0, help="stop after this long whatever the count"
    )
    parser.add_argument("--workers", type=int, default=cores())
    args = parser.parse_args(argv)

    records = held_out_records()
    kinds = payloads(records)
    shutil.rmtree(RECORDS, ignore_errors=True)
    service = servers(args.workers, RECORDS)[0]
    say(f"starting the service ({args.workers} worker(s))")
    with started(service, records[:1]) as running:
        requests = mix(running.port, kinds)
        say(f"answered {running.cold_start_s:.1f} s after start; warm-up: 1000 requests at c=8")
        warm_up = asyncio.run(loadgen.run(HOST, running.port, requests, 8, 1000, 30))
        before = memory(running.process)
        say(
            f"{args.requests} requests of {len(kinds)} kinds (valid and invalid) at c={args.concurrency}, "
            f"at most {args.seconds:.0f} s; RSS now {before['rss_mib']} MiB"
        )
        tally = asyncio.run(
            loadgen.run(HOST, running.port, requests, args.concurrency, args.requests, args.seconds)
        )
        after = memory(running.process)
    # Stopped (SIGTERM): each worker has written what it still held.
    served, in_record = valid_rows(warm_up) + valid_rows(tally), recorded(RECORDS, REQUEST_ID)

    wrong = {
        kind: dict(statuses) for kind, statuses in tally.by_kind.items() if set(statuses) - kinds[kind][1]
    }
    server_errors = sum(count for status, count in tally.statuses.items() if status >= 500)
    allowed = before["rss_mib"] * (1 + GROWTH_ALLOWED) + 16
    problems = []
    if len(tally.latencies) < args.requests:
        problems.append(
            f"only {len(tally.latencies)} of {args.requests} requests answered in {args.seconds:.0f} s"
        )
    if server_errors:
        problems.append(f"{server_errors} answers were 5xx")
    if tally.dropped:
        problems.append(f"{tally.dropped} connections dropped")
    if wrong:
        problems.append(f"unexpected statuses: {wrong}")
    if after["rss_mib"] > allowed:
        problems.append(
            f"memory grew from {before['rss_mib']} MiB to {after['rss_mib']} MiB (allowed {allowed:.0f})"
        )
    if load_params().monitor.sample_rate == 1.0 and in_record != served:
        problems.append(f"the prediction record holds {in_record} records, {served} valid ones were served")
    result = {
        **tally.summary(),
        "concurrency": args.concurrency,
        "workers": args.workers,
        "by_kind": {
            kind: {str(k): v for k, v in statuses.items()} for kind, statuses in tally.by_kind.items()
        },
        "memory_after_warm_up": before,
        "memory_at_end": after,
        "records_served": served,
        "records_in_record": in_record,
        "problems": problems,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"load: {len(tally.latencies)} requests at c={args.concurrency} in {tally.elapsed:.1f} s "
        f"({tally.rate:.0f}/s, p99 {tally.percentile(0.99) * 1e3:.0f} ms); statuses {dict(tally.statuses)}; "
        f"dropped {tally.dropped}; RSS {before['rss_mib']} -> {after['rss_mib']} MiB, "
        f"peak {before['peak_rss_mib']} -> {after['peak_rss_mib']} MiB; "
        f"valid records served {served}, in the prediction record {in_record}"
    )
    for problem in problems:
        print(f"load: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
