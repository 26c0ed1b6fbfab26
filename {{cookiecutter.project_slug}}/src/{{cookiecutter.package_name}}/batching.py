"""Adaptive micro-batching: requests that arrive while the model is busy share its next call.

A model call costs about the same for 1 row as for hundreds (most of it is per call: the
preprocessing and each tree's set-up), so the service queues the records of concurrent requests and a
single consumer hands everything queued, up to `max_rows`, to one call. Nobody waits on a timer: an idle
service answers a lone request at once (a batch of one), and under load the batch grows with the queue,
which is why it adapts. Nothing is shed: the request timeout and the concurrency limit of the service
bound how much can wait.

A call runs in the model's own thread, so the event loop keeps reading requests meanwhile, unless it is
expected to take less than INLINE_BELOW_S: then it runs on the event loop itself, since handing it to the
thread and back costs more than the call (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Pending = tuple[list[Any], "asyncio.Future[Sequence[Any]]"]

# A call expected to take less than this runs on the event loop. Through the thread, a call costs a
# future, a wake-up of the loop and the GIL changing hands twice: more than the compiled model takes for a
# few rows (about 0.01 ms for 1 row, 0.23 ms for 100). Longer calls go to the thread, where ONNX Runtime
# and scikit-learn work without the GIL while the loop reads requests (the forest: 5-8 ms a call).
# Expected: the last call's own time (without the hand-over), scaled up by rows when the batch is larger;
# the first call goes to the thread.
INLINE_BELOW_S = 0.0002


class Batcher:
    """Runs `infer` on the items of many callers at once; each caller gets the results of its own items.

    `infer` takes a list of items and returns a sequence of results of the same length, in order. It runs
    in one dedicated thread, so the event loop keeps reading requests while the model works, or on the
    event loop when the call is expected to be shorter than `inline_below_s`.
    """

    def __init__(
        self,
        infer: Callable[[list[Any]], Sequence[Any]],
        max_rows: int,
        max_wait_s: float = 0.02,
        inline_below_s: float = INLINE_BELOW_S,
    ) -> None:
        self.infer = infer
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.inline_below_s = inline_below_s
        self.last_call: tuple[float, int] | None = None  # seconds and rows of the latest model call
        self.pending: list[Pending] = []
        self.wakeup: asyncio.Event | None = None
        self.consumer: asyncio.Task[None] | None = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # rows of the latest model calls
        self.inline_calls = 0  # model calls run on the event loop

    async def __call__(self, items: list[Any]) -> Sequence[Any]:
        if self.consumer is None or self.consumer.done():
            self.wakeup = asyncio.Event()
            self.consumer = asyncio.create_task(self._consume(), name="batcher")
        future: asyncio.Future[Sequence[Any]] = asyncio.get_running_loop().create_future()
        self.pending.append((items, future))
        assert self.wakeup is not None
        self.wakeup.set()
        return await future

    def _short(self) -> bool:
        """Whether the next call is expected to take less than inline_below_s (run it on the loop)."""
        if self.last_call is None:
            return False
        seconds, rows = self.last_call
        queued = min(self.max_rows, sum(len(items) for items, _ in self.pending))
        return seconds * max(1.0, queued / max(rows, 1)) < self.inline_below_s

    def _take(self) -> list[Pending]:
        """The oldest waiting requests up to max_rows (always at least one), skipping abandoned ones."""
        taken, rows = [], 0
        while self.pending:
            items, future = self.pending[0]
            if future.done():  # the caller went away (timeout, disconnect)
                self.pending.pop(0)
                continue
            if taken and rows + len(items) > self.max_rows:
                break
            taken.append(self.pending.pop(0))
            rows += len(items)
        return taken

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.wakeup is not None
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            gather_s = 0.0
            while self.pending:
                inline = self._short()
                if not inline:
                    # Requests queued while the model was busy mean more are arriving: let them gather
                    # for as long as the last call took (at most max_wait_s), so the model is busy at most
                    # about half the time and the cores go to the requests. A lone request never waits.
                    # (A call on the event loop needs no gathering: nothing arrives while it runs.)
                    await self._gather(min(gather_s, self.max_wait_s))
                if not (batch := self._take()):
                    break
                rows = [item for items, _ in batch for item in items]
                self.batch_sizes.append(len(rows))
                began = time.perf_counter()
                try:
                    if inline:
                        self.inline_calls += 1
                        results, seconds = self._timed(rows)
                    else:
                        results, seconds = await loop.run_in_executor(self.thread, self._timed, rows)
                except Exception:
                    await self._one_by_one(loop, batch)
                    continue
                gather_s = time.perf_counter() - began  # with the hand-over: what the callers waited
                # The call's own time decides where the next one runs. Timed around the hand-over, a
                # call sent to the thread looked as long as the hand-over it was sent there to avoid, and
                # every later call stayed in the thread (docs/decisions.md).
                self.last_call = (seconds, len(rows))
                start = 0
                for items, future in batch:
                    if not future.done():
                        future.set_result(results[start : start + len(items)])
                    start += len(items)

    def _timed(self, rows: list[Any]) -> tuple[Sequence[Any], float]:
        """`infer` on `rows`, and the seconds it took, timed in the thread that ran it."""
        began = time.perf_counter()
        results = self.infer(rows)
        return results, time.perf_counter() - began

    async def _gather(self, seconds: float) -> None:
        """Wait up to `seconds` while fewer than max_rows rows are queued."""
        deadline = asyncio.get_running_loop().time() + seconds
        while sum(len(items) for items, _ in self.pending) < self.max_rows:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), remaining)

    async def _one_by_one(self, loop: asyncio.AbstractEventLoop, batch: list[Pending]) -> None:
        for items, future in batch:
            try:
                result = await loop.run_in_executor(self.thread, self.infer, items)
            except Exception as error:
                if not future.done():
                    future.set_exception(error)
            else:
                if not future.done():
                    future.set_result(result)

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.cancel()
        self.thread.shutdown(wait=False, cancel_futures=True)
