"""Adaptive batching: callers share model calls, each gets its own results, a bad request fails alone."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from {{ cookiecutter.package_name }}.batching import Batcher


def doubled(items: list[int]) -> list[int]:
    if any(item < 0 for item in items):
        raise ValueError("negative")
    return [2 * item for item in items]


def gather(batcher: Batcher, requests: list[list[int]]) -> list:
    async def main():
        return await asyncio.gather(*(batcher(items) for items in requests), return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_callers_share_calls_and_get_their_own_results():
    batcher = Batcher(doubled, max_rows=1000)
    requests = [[index, index + 100] for index in range(50)]
    answers = gather(batcher, requests)
    assert [list(answer) for answer in answers] == [[2 * a, 2 * b] for a, b in requests]
    assert sum(batcher.batch_sizes) == 100
    assert len(batcher.batch_sizes) < 50  # requests that waited together went in one call
    batcher.close()


def test_a_batch_never_exceeds_max_rows_unless_one_request_does():
    batcher = Batcher(doubled, max_rows=10)
    gather(batcher, [[1, 2, 3, 4]] * 6 + [list(range(25))])
    assert all(size <= 10 or size == 25 for size in batcher.batch_sizes)
    assert 25 in batcher.batch_sizes
    batcher.close()


def test_a_failing_request_fails_alone():
    batcher = Batcher(doubled, max_rows=1000)
    answers = gather(batcher, [[1], [-1], [3]])
    assert list(answers[0]) == [2]
    assert isinstance(answers[1], ValueError)
    assert list(answers[2]) == [6]
    batcher.close()


def test_an_idle_batcher_answers_a_lone_request_at_once():
    batcher = Batcher(doubled, max_rows=1000)
    assert list(gather(batcher, [[21]])[0]) == [42]
    assert list(batcher.batch_sizes) == [1]
    batcher.close()


@pytest.mark.parametrize("callers", [1, 200])
def test_every_caller_is_answered(callers):
    batcher = Batcher(doubled, max_rows=64)
    answers = gather(batcher, [[index] for index in range(callers)])
    assert [list(answer) for answer in answers] == [[2 * index] for index in range(callers)]
    batcher.close()


def test_short_calls_run_on_the_event_loop_and_long_ones_in_the_model_thread():
    """A call expected to take less than inline_below_s skips the hand-over to the thread; the first call
    (its time unknown) and any call expected to be longer go to the thread."""
    threads: list[str] = []

    def timed(seconds: float):
        def infer(items: list[int]) -> list[int]:
            threads.append(threading.current_thread().name)
            time.sleep(seconds)
            return [2 * item for item in items]

        return infer

    async def one_by_one(batcher: Batcher, count: int) -> list:
        return [list(await batcher([index])) for index in range(count)]

    fast = Batcher(timed(0.0), max_rows=1000, inline_below_s=0.05)
    assert asyncio.run(one_by_one(fast, 5)) == [[2 * index] for index in range(5)]
    assert threads[0].startswith("model")
    assert threads[1:] == [threading.main_thread().name] * 4
    assert fast.inline_calls == 4
    fast.close()

    threads.clear()
    slow = Batcher(timed(0.01), max_rows=1000, inline_below_s=0.005)
    assert asyncio.run(one_by_one(slow, 3)) == [[0], [2], [4]]
    assert all(name.startswith("model") for name in threads)
    assert slow.inline_calls == 0
    slow.close()


def test_a_call_is_timed_without_the_hand_over_so_short_calls_return_to_the_event_loop():
    """The first call goes to the thread; a slow hand-over there (a busy worker: the GIL, the loop's
    wake-up) must not make a short call look long, or every later call would stay in the thread."""
    from concurrent.futures import ThreadPoolExecutor

    class SlowHandOver(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            time.sleep(0.01)  # 10 ms before the call even starts: 50 times the inline bound below
            return super().submit(fn, *args, **kwargs)

    async def one_by_one(batcher: Batcher, count: int) -> list:
        return [list(await batcher([index])) for index in range(count)]

    batcher = Batcher(doubled, max_rows=1000, inline_below_s=0.0002)
    batcher.thread.shutdown()
    batcher.thread = SlowHandOver(max_workers=1, thread_name_prefix="model")
    assert asyncio.run(one_by_one(batcher, 4)) == [[0], [2], [4], [6]]
    assert batcher.inline_calls == 3  # all but the first
    assert batcher.last_call is not None
    assert batcher.last_call[0] < 0.0002
    batcher.close()


def test_a_larger_batch_than_the_last_call_is_expected_to_take_longer():
    batcher = Batcher(doubled, max_rows=1000, inline_below_s=0.001)
    batcher.last_call = (0.0002, 10)  # 20 µs a row
    batcher.pending = [([0] * 40, None)]  # 40 rows: 0.8 ms expected, on the loop
    assert batcher._short()
    batcher.pending = [([0] * 60, None)]  # 60 rows: 1.2 ms expected, in the thread
    assert not batcher._short()
    batcher.close()
