"""The Firehose side of a CloudWatch metric stream, for tests and the cost benchmark: objects written as the
delivery stream writes them (``<prefix>YYYY/MM/DD/HH/<name>-<version>-YYYY-MM-DD-HH-MM-SS-<id>``, one JSON
update a line) into an :class:`functions.ports.archive.ObjectStore` (moto's S3 or the in-memory one)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from functions.adapters.metric_stream import METRIC_STREAM_PREFIX
from functions.ports.archive import ObjectStore


def stream_line(
    namespace: str,
    name: str,
    dimensions: Mapping[str, str],
    minute: datetime,
    values: Sequence[float],
    *,
    stream_name: str = "forescale",
    unit: str = "Count",
) -> str:
    """One update in the JSON output format; ``values`` are the minute's samples (their statistic set is sent)."""
    return json.dumps(
        {
            "metric_stream_name": stream_name,
            "account_id": "123456789012",
            "region": "us-east-1",
            "namespace": namespace,
            "metric_name": name,
            "dimensions": dict(dimensions),
            "timestamp": int(minute.astimezone(UTC).timestamp() * 1000),
            "value": {"max": max(values), "min": min(values), "sum": sum(values), "count": float(len(values))},
            "unit": unit,
        },
        separators=(",", ":"),
    )


@dataclass
class FirehoseDelivery:
    """Writes objects as the delivery stream ``name`` does under ``prefix`` (UTC time prefix and suffix)."""

    objects: ObjectStore
    prefix: str = METRIC_STREAM_PREFIX
    name: str = "forescale-metric-stream"
    version: int = 1
    delivered: int = 0

    def key(self, at: datetime) -> str:
        at = at.astimezone(UTC)
        self.delivered += 1
        return f"{self.prefix}{at:%Y/%m/%d/%H}/{self.name}-{self.version}-{at:%Y-%m-%d-%H-%M-%S}-{self.delivered:08x}"

    def deliver(self, at: datetime, lines: Sequence[str]) -> str:
        """One object delivered at ``at`` holding ``lines``; returns its key."""
        key = self.key(at)
        self.objects.put_new(key, ("\n".join(lines) + "\n").encode(), content_type="application/octet-stream")
        return key
