"""Metric ports: reading targets' load series and publishing forescale's own metrics.

Implemented by :mod:`functions.adapters.cloudwatch` (over CloudWatch, or its in-memory twin).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from functions.domain.target import LoadMetric


@dataclass(frozen=True)
class MetricSeries:
    """One query's result: UTC timestamps ascending and their values; missing periods are absent.

    ``complete`` is False when CloudWatch reported an error status (``InternalError``, ``Forbidden``)
    for the query; ``messages`` then says why.
    """

    timestamps: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()
    complete: bool = True
    messages: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.timestamps)


class MetricsSource(Protocol):
    def fetch(self, metrics: Mapping[str, LoadMetric], *, start: datetime, end: datetime) -> dict[str, MetricSeries]:
        """Series of each metric over ``[start, end)``, keyed like ``metrics`` (usually by target id).

        ``start`` is rounded down to the whole minute, as CloudWatch does; pass period-aligned times
        so that buckets line up with the period.
        """
        ...


@dataclass(frozen=True)
class MetricDatum:
    """One value of a custom metric (forecast accuracy and the like)."""

    name: str
    value: float
    timestamp: datetime
    dimensions: Mapping[str, str] = field(default_factory=dict)
    unit: str = "None"


class MetricsPublisher(Protocol):
    def publish(self, namespace: str, data: Sequence[MetricDatum]) -> int:
        """Put ``data`` in batches; returns the number of calls made."""
        ...
