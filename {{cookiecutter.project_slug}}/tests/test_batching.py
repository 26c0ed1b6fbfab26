"""Adaptive batching: callers share model calls, each gets its own results, a bad request fails alone."""

from __future__ import annotations

import asyncio

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
