"""Counting in numpy, written to prometheus_client on flush: histograms and counters of a fixed key set.

A model call adds its values to arrays (one comparison with the bucket edges, one bincount); `flush` adds
what changed since the last flush to prometheus_client's values, once a second (instruments.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class Buckets:
    """Histograms of several columns (one child each), counted in numpy and written on flush.

    Column k's buckets are its edges plus +Inf; a value goes into the first bucket whose edge it does not
    exceed (Prometheus' `le`). NaN is counted apart, as missing.
    """

    def __init__(self, children: Sequence[Any], edges: Sequence[Sequence[float]]) -> None:
        self.children = list(children)
        self.width = max((len(e) for e in edges), default=0) + 1  # buckets, with +Inf
        self.edges = np.full((len(edges), self.width - 1), np.inf)
        for row, column in zip(self.edges, edges, strict=True):
            row[: len(column)] = column
        self.shape = (len(edges), self.width + 1)  # the last column counts missing values
        self.offsets = np.arange(len(edges))[:, None] * self.shape[1]
        self.counts = np.zeros(self.shape, dtype=np.int64)
        self.sums = np.zeros(len(edges))
        self.flushed = (self.counts.copy(), self.sums.copy())

    def add(self, values: np.ndarray) -> None:
        """`values`: one row per record, one column per histogram.

        Compared column-major (histogram, edge, record), so the count of edges a value exceeds is a sum
        over the middle axis, vectorised along the records: half the time of summing the last, short axis
        for 100 records or more (docs/decisions.md).
        """
        columns = values.T
        missing = np.isnan(columns)
        index = (columns[:, None, :] > self.edges[:, :, None]).sum(axis=1)
        index[missing] = self.width
        self.counts += np.bincount((index + self.offsets).ravel(), minlength=self.counts.size).reshape(
            self.shape
        )
        self.sums += np.where(missing, 0.0, columns).sum(axis=1)

    def flush(self, missing: Sequence[Any] | None = None) -> None:
        counts, sums = self.counts.copy(), self.sums.copy()
        delta, delta_sums = counts - self.flushed[0], sums - self.flushed[1]
        for column, bucket in zip(*np.nonzero(delta[:, : self.width]), strict=True):
            # prometheus_client has no public "observe n values" for a histogram; its bucket and sum values
            # are what observe() itself increments (test_instruments checks the exposition).
            self.children[column]._buckets[bucket].inc(int(delta[column, bucket]))
        for column in np.nonzero(delta_sums)[0]:
            self.children[column]._sum.inc(float(delta_sums[column]))
        if missing is not None:
            for column in np.nonzero(delta[:, self.width])[0]:
                missing[column].inc(int(delta[column, self.width]))
        self.flushed = (counts, sums)


class Tally:
    """Counters of a fixed set of keys (categories, classes), counted in numpy and written on flush."""

    def __init__(self, children: Sequence[Any]) -> None:
        self.children = list(children)
        self.counts = np.zeros(len(children), dtype=np.int64)
        self.flushed = self.counts.copy()

    def add(self, index: np.ndarray) -> None:
        self.counts += np.bincount(index, minlength=len(self.counts))[: len(self.counts)]

    def flush(self) -> None:
        counts = self.counts.copy()
        for key in np.nonzero(counts - self.flushed)[0]:
            self.children[key].inc(int(counts[key] - self.flushed[key]))
        self.flushed = counts


class FeatureHistograms:
    """One histogram family from several Histograms of the same name (a collector, for one process)."""

    def __init__(self, name: str, documentation: str, parts: Sequence[Any]) -> None:
        self.name, self.documentation, self.parts = name, documentation, parts

    def collect(self):
        from prometheus_client.metrics_core import Metric

        family = Metric(self.name, self.documentation, "histogram")
        for part in self.parts:
            for metric in part.collect():
                family.samples.extend(metric.samples)
        yield family
