"""`make bench`: the service against its ceiling, the in-process limit and two alternatives, in one run.

In-process: the time of one `predict` of the scikit-learn pipeline on 1 row and on 100 rows (the limit an
unbatched server on that model cannot beat), and of one call of the compiled model (models/compiled).
Over HTTP on 127.0.0.1, each with the same number of workers: the BentoML service as deployed (the
compiled model, its metrics and prediction record on), `service-off` (both off: what observing costs),
`service-sklearn` (the scikit-learn model: what compiling gains), `ceiling` (BentoML with the same typed
request and no model: what the framework itself costs), a plain FastAPI app and `mlflow models serve`
(both on the scikit-learn model). Each is started, timed from process start to first prediction (cold
start), warmed up, loaded at concurrency 1, 8 and 32 with 1-record and 100-record requests, and stopped.
Prints one table (with each server as a share of the ceiling) and writes reports/bench.json; exits 1 when
a target is missed, and `--again` then measures only the servers of the missed targets (MEASURED_ON),
leaving the met ones as they were. Goals are reported beside what the no-model ceiling itself reaches on
the same measure, and do not fail the run: an absolute latency, or a multiple of another server, is a
property of the machine as much as of the service (docs/decisions.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from {{ cookiecutter.package_name }}.predict import Predictor, Record, frame

from . import loadgen
from .targets import (
    HOST,
    Running,
    connections_per_worker,
    cores,
    held_out_records,
    servers,
    started,
)

OUT = Path("reports/bench.json")
SIZES = {"1-record": 1, "100-record": 100}
# (size, concurrency) cells; --quick measures only the cells the targets are about.
CELLS = [(size, concurrency) for size in SIZES for concurrency in (1, 8, 32)]
QUICK_CELLS = [("1-record", 1), ("1-record", 32), ("100-record", 8)]
# The service is the compiled one, as deployed; the targets of the batching service against the unbatched
# limit and the alternatives compare like with like: each on the scikit-learn model.
TARGETS = {
    "1-record, c=32: service / ceiling (no model)": 0.8,
    "1-record, c=32: service / service without metrics and record": 0.9,
    "1-record, c=32: service-sklearn / in-process limit": 5.0,
    "100-record, c=8: service-sklearn rows/s / in-process rows/s": 0.7,
    "1-record, c=32: service-sklearn / fastapi": 3.0,
    "1-record, c=32: service-sklearn / mlflow": 3.0,
}
# Goals: the service's own latency and its 100-record rate against the scikit-learn service. Each is
# shown with the ceiling's figure on the same measure; when the ceiling misses a goal, so must the service.
BULK_GOAL = 3.0  # 100-record requests at c=8: service rows/s / service-sklearn rows/s
P99_GOAL_MS = 15.0  # the service, 1-record requests at c=32
P50_C1_GOAL_MS = 3.0  # the service, 1-record requests at c=1
# The servers each target's and goal's value is measured on (the in-process limit is measured in every
# run). `--again` measures the servers of the missed targets again, and only those targets take the
# new figures: a value never combines servers measured in different runs.
MEASURED_ON = {
    "1-record, c=32: service / ceiling (no model)": ("service", "ceiling"),
    "1-record, c=32: service / service without metrics and record": ("service", "service-off"),
    "1-record, c=32: service-sklearn / in-process limit": ("service-sklearn",),
    "100-record, c=8: service-sklearn rows/s / in-process rows/s": ("service-sklearn",),
    "1-record, c=32: service-sklearn / fastapi": ("service-sklearn", "fastapi"),
    "1-record, c=32: service-sklearn / mlflow": ("service-sklearn", "mlflow"),
    "100-record, c=8: service rows/s / service-sklearn rows/s": ("service", "service-sklearn", "ceiling"),
    "1-record, c=32: service p99 ms": ("service", "ceiling"),
    "1-record, c=1: service p50 ms": ("service", "ceiling"),
}
REQUIRED = {"service", "service-off", "service-sklearn", "ceiling", "fastapi", "mlflow"}


def say(line: str) -> None:
    """Progress as plain lines on stderr (a terminal and a CI log alike); the table goes to stdout."""
    print(f"bench: {line}", file=sys.stderr, flush=True)


def in_process(records: list[dict], repeats: int) -> dict[str, float]:
    """Median seconds of one `predict` of the scikit-learn pipeline on 1 and on 100 rows (frames built
    beforehand), and of one call of the compiled model on the same rows (`compiled 1-record`, ...)."""
    predictor = Predictor()
    model = predictor.model
    typed = [Record.model_validate(record) for record in records]
    result = {}
    for size, rows in SIZES.items():
        batches = [[typed[(start + i) % len(typed)] for i in range(rows)] for start in range(16)]
        calls = {size: (model.predict, [frame(batch) for batch in batches])}
        if predictor.compiled is not None:
            calls[f"compiled {size}"] = (predictor.compiled, batches)
        for name, (call, inputs) in calls.items():
            call(inputs[0])  # first call warms caches
            times = []
            for index in range(repeats):
                began = time.perf_counter()
                call(inputs[index % len(inputs)])
                times.append(time.perf_counter() - began)
            result[name] = statistics.median(times)
    return result


def bodies(running: Running, records: list[dict], rows: int) -> list[loadgen.Request]:
    chunks = [
        [records[(start + i) % len(records)] for i in range(rows)] for start in range(0, 64 * rows, rows)
    ]
    return [
        loadgen.encode(HOST, running.port, running.server.path, running.server.body(chunk))
        for chunk in chunks
    ]


def measure(
    running: Running, records: list[dict], cells, requests: int, seconds: float, workers: int
) -> dict:
    payloads = {size: bodies(running, records, rows) for size, rows in SIZES.items()}

    def spread() -> list[int]:  # each cell's connections are spread over the workers (loadgen.run)
        return connections_per_worker(running.process, running.port, workers)

    # Warm-up: every worker answers both kinds of request, at the highest concurrency measured.
    asyncio.run(loadgen.run(HOST, running.port, payloads["1-record"], 32, 600, min(seconds, 5)))
    asyncio.run(loadgen.run(HOST, running.port, payloads["100-record"], 4, 40, min(seconds, 5)))
    result = {"cold_start_s": round(running.cold_start_s, 2), "cells": {}}
    for number, (size, concurrency) in enumerate(cells, 1):
        tally = asyncio.run(
            loadgen.run(HOST, running.port, payloads[size], concurrency, requests, seconds, spread)
        )
        summary = tally.summary()
        summary["rows_per_s"] = round(tally.rate * SIZES[size], 1)
        result["cells"][f"{size}, c={concurrency}"] = summary
        say(
            f"{running.server.name} {size} c={concurrency} ({number}/{len(cells)}): "
            f"{summary['requests_per_s']:.0f} req/s, "
            f"p50 {summary['p50_ms']:.0f} ms, p99 {summary['p99_ms']:.0f} ms"
            + (f", connections per worker {tally.spread}" if len(tally.spread) > 1 else "")
            + (f" (opened {tally.reopened + 1} times)" if tally.reopened else "")
        )
    return result


def compare(limit: dict[str, float], measured: dict[str, dict]) -> dict:
    """The ratios and latencies the targets name."""

    def cell(name: str, key: str) -> dict:
        return measured[name]["cells"][key]

    single, bulk = cell("service", "1-record, c=32"), cell("service", "100-record, c=8")
    sklearn_single, sklearn_bulk = (
        cell("service-sklearn", "1-record, c=32"),
        cell("service-sklearn", "100-record, c=8"),
    )

    def rate(name: str) -> float:
        return cell(name, "1-record, c=32")["requests_per_s"]

    values = {
        "1-record, c=32: service / ceiling (no model)": single["requests_per_s"] / rate("ceiling"),
        "1-record, c=32: service / service without metrics and record": single["requests_per_s"]
        / rate("service-off"),
        "1-record, c=32: service-sklearn / in-process limit": sklearn_single["requests_per_s"]
        * limit["1-record"],
        "100-record, c=8: service-sklearn rows/s / in-process rows/s": sklearn_bulk["rows_per_s"]
        * limit["100-record"]
        / 100,
        "1-record, c=32: service-sklearn / fastapi": sklearn_single["requests_per_s"] / rate("fastapi"),
        "1-record, c=32: service-sklearn / mlflow": sklearn_single["requests_per_s"] / rate("mlflow"),
    }
    checks = {name: {"value": round(value, 2), "at_least": TARGETS[name], "met": value >= TARGETS[name]}
              for name, value in values.items()}  # fmt: skip
    ceiling = cell("ceiling", "1-record, c=32")

    def goal(value: float, ceiling_value: float, **bound: float) -> dict:
        ((kind, limit),) = bound.items()
        met = value >= limit if kind == "at_least" else value < limit
        reachable = ceiling_value >= limit if kind == "at_least" else ceiling_value < limit
        return {"value": round(value, 2), kind: limit, "met": met, "goal": True,
                "ceiling": round(ceiling_value, 2), "ceiling_met": reachable}  # fmt: skip

    checks["100-record, c=8: service rows/s / service-sklearn rows/s"] = goal(
        bulk["rows_per_s"] / sklearn_bulk["rows_per_s"],
        cell("ceiling", "100-record, c=8")["rows_per_s"] / sklearn_bulk["rows_per_s"],
        at_least=BULK_GOAL,
    )
    checks["1-record, c=32: service p99 ms"] = goal(single["p99_ms"], ceiling["p99_ms"], below=P99_GOAL_MS)
    alone, lone = cell("service", "1-record, c=1"), cell("ceiling", "1-record, c=1")
    checks["1-record, c=1: service p50 ms"] = goal(alone["p50_ms"], lone["p50_ms"], below=P50_C1_GOAL_MS)
    return {name: check | {"servers": list(MEASURED_ON[name])} for name, check in checks.items()}


def table(limit: dict[str, float], measured: dict[str, dict], checks: dict, workers: int) -> str:
    names = list(measured)
    one, hundred = limit["1-record"], limit["100-record"]
    lines = [
        f"in-process scikit-learn predict, {workers} worker(s) per server below: 1 row {one * 1e3:.2f} ms "
        f"= {1 / one:.0f} req/s (the unbatched limit); 100 rows {hundred * 1e3:.2f} ms "
        f"= {100 / hundred:.0f} rows/s",
    ]
    if "compiled 1-record" in limit:
        lines.append(
            f"in-process compiled model (ONNX Runtime, 1 thread, inputs from typed records): 1 row "
            f"{limit['compiled 1-record'] * 1e3:.3f} ms; 100 rows {limit['compiled 100-record'] * 1e3:.3f} ms"
        )
    lines += [
        "cold start (process start to first prediction): "
        + ", ".join(f"{name} {measured[name]['cold_start_s']:.1f} s" for name in names),
        "",
        "| requests | c | "
        + " | ".join(f"{name} req/s (p50/p99 ms)" for name in names)
        + " | "
        + " | ".join(f"{name} / ceiling" for name in names if name != "ceiling")
        + " |",
        "|---|---|" + "---|" * (2 * len(names) - ("ceiling" in names)),
    ]
    for cell in measured[names[0]]["cells"]:
        size, concurrency = cell.split(", c=")
        row = {name: measured[name]["cells"].get(cell) for name in names}
        shown = [
            f"{r['requests_per_s']:.0f} ({r['p50_ms']:.1f}/{r['p99_ms']:.1f})" if r else "-"
            for r in row.values()
        ]
        ceiling = (row.get("ceiling") or {}).get("requests_per_s")
        ratios = [
            f"{row[name]['requests_per_s'] / ceiling:.2f}" if ceiling and row[name] else "-"
            for name in names
            if name != "ceiling"
        ]
        lines.append(f"| {size} | {concurrency} | " + " | ".join(shown + ratios) + " |")
    lines.append("")
    for name, check in checks.items():
        bound = f">= {check['at_least']}" if "at_least" in check else f"< {check['below']}"
        bound += f"; run {check['run']}" if "run" in check else ""  # after --again
        if check.get("goal"):
            reach = "the ceiling meets it" if check["ceiling_met"] else "out of reach here: it misses it too"
            lines.append(
                f"goal {'met ' if check['met'] else 'missed'} {name}: {check['value']} (goal {bound}; "
                f"no-model ceiling {check['ceiling']}, {reach})"
            )
        else:
            lines.append(f"{'met ' if check['met'] else 'MISSED'} {name}: {check['value']} (target {bound})")
    return "\n".join(lines)


def missed_targets(checks: dict) -> list[str]:
    """The targets a run missed (goals do not fail a run)."""
    return [name for name, check in checks.items() if not check["met"] and not check.get("goal")]


def again(previous: dict, fresh: dict, measured: set[str], run: int) -> dict:
    """The checks after a run with --again: a missed target takes this run's value (all its servers were
    measured again); a met one keeps its own, and so does a goal unless all its servers were measured."""
    missed, checks = missed_targets(previous["targets"]), {}
    for name, check in previous["targets"].items():
        retried = name in missed or (check.get("goal") and set(MEASURED_ON[name]) <= measured)
        checks[name] = fresh[name] | {"run": run} if retried else {"run": run - 1} | check
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the cells the targets need, short runs")
    parser.add_argument("--workers", type=int, default=cores(), help="processes per server (default: cores)")
    parser.add_argument("--requests", type=int, help="requests per cell (default 5000; quick 1500)")
    parser.add_argument("--seconds", type=float, help="time per cell (default 15; quick 4)")
    parser.add_argument("--only", nargs="*", help="servers to measure (default: all)")
    parser.add_argument(
        "--again",
        action="store_true",
        help=f"measure again only the servers of the targets {OUT} missed; the met ones keep their figures",
    )
    args = parser.parse_args(argv)
    requests = args.requests or (1500 if args.quick else 5000)
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    cells = QUICK_CELLS if args.quick else CELLS
    wanted, previous = set(args.only or REQUIRED), None
    if args.again:
        if args.only is not None:
            parser.error("--again chooses the servers itself: leave out --only")
        previous = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else None
        if not previous or not previous["targets"]:
            parser.error(f"--again needs {OUT} from a run of every server")
        if (previous["quick"], previous["workers"]) != (args.quick, args.workers):
            measured_with = f"quick={previous['quick']}, workers={previous['workers']}"
            parser.error(f"--again: {OUT} was measured with {measured_with}")
        missed = missed_targets(previous["targets"])
        if not missed:
            say(f"{OUT}: every target met, nothing to measure again")
            return 0
        wanted = {server for name in missed for server in MEASURED_ON[name]}
        say(f"again: {', '.join(missed)} missed; measuring {', '.join(sorted(wanted))}")

    records = held_out_records()
    repeats = 100 if args.quick else 300
    chosen = [server for server in servers(args.workers) if server.name in wanted]
    say(
        f"{len(chosen)} server(s) x {len(cells)} cells, up to {seconds:.0f} s or {requests} requests "
        f"per cell, about {len(chosen) * (len(cells) * seconds + 30) / 60:.0f} min"
    )
    say(f"in-process predict, {repeats} calls on 1 and on 100 rows")
    before = in_process(records, repeats)
    run = previous.get("run", 1) + 1 if previous else 1
    measured: dict[str, dict] = {}
    for server in chosen:
        say(f"{server.name}: starting {args.workers} worker(s), warming up")
        with started(server, records[:1]) as running:
            say(f"{server.name}: answered {running.cold_start_s:.1f} s after start")
            measured[server.name] = measure(running, records, cells, requests, seconds, args.workers) | {
                "run": run
            }
    # Measured again after the servers; the faster of the two is the limit (the stricter target).
    say("in-process predict again (the faster of the two runs is the limit)")
    after = in_process(records, repeats)
    limit = {name: min(before[name], after[name]) for name in before}
    every = (previous["servers"] if previous else {}) | measured
    checks = compare(limit, every) if set(every) >= REQUIRED else {}
    if previous:
        checks = again(previous, checks, set(measured), run)
    print(table(limit, every, checks, args.workers))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "workers": args.workers,
        "quick": args.quick,
        "run": run,
        "in_process_s": limit,
        "in_process_runs_s": [before, after],
        "servers": every,
        "targets": checks,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"bench: wrote {OUT}", file=sys.stderr)
    return 1 if missed_targets(checks) else 0


if __name__ == "__main__":
    sys.exit(main())
