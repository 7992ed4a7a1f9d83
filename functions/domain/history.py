"""A target's own load history as a replay trace: what ``forescale history`` writes.

Teams decide whether to trust forescale by replaying their own traffic, and that traffic is in
CloudWatch. This module holds the pure part of getting it out: which window CloudWatch can still give
at a period, the ``timestamp,value`` rows of the trace (a period without a datapoint is a missing row,
a gap, never zero: docs/replay-spec.md), and the ``forescale replay`` flags that replay the target
with its own configuration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from functions.domain.target import ScalingTarget

#: How long CloudWatch keeps datapoints of a period (seconds) at that period: (shortest period, days).
RETENTION: tuple[tuple[int, float], ...] = ((3600, 455.0), (300, 63.0), (60, 15.0), (1, 3.0 / 24.0))


def retention_days(period_seconds: int) -> float:
    """Days of history CloudWatch still holds at ``period_seconds`` (shorter periods expire sooner)."""
    for shortest, days in RETENTION:
        if period_seconds >= shortest:
            return days
    raise ValueError(f"period_seconds: must be positive, got {period_seconds}")


@dataclass(frozen=True)
class HistoryWindow:
    """``[start, end)`` at ``period_seconds``, both on the period grid (UTC)."""

    start: datetime
    end: datetime
    period_seconds: int

    @property
    def steps(self) -> int:
        return int((self.end - self.start).total_seconds()) // self.period_seconds


def history_window(*, end: datetime, days: float, period_seconds: int, now: datetime) -> HistoryWindow:
    """The last ``days`` before ``end`` on the period grid; raises ``ValueError`` naming what is wrong.

    CloudWatch's retention counts back from ``now``, not from ``end``: a window that starts further back
    than the period's retention is refused, naming a period that still has it.
    """
    for name, moment in (("end", end), ("now", now)):
        if moment.tzinfo is None:
            raise ValueError(f"{name}: must carry a time zone (UTC)")
    if period_seconds <= 0 or 86_400 % period_seconds:
        raise ValueError(f"period_seconds: must divide a day, got {period_seconds}")
    if not (math.isfinite(days) and days > 0):
        raise ValueError(f"days: must be a positive number of days, got {days}")
    if end > now:
        raise ValueError(f"end: {end:%Y-%m-%d %H:%M} is in the future")
    epoch = int(end.astimezone(UTC).timestamp())
    aligned = datetime.fromtimestamp(epoch - epoch % period_seconds, UTC)
    start = aligned - timedelta(seconds=round(days * 86_400 / period_seconds) * period_seconds)
    kept = retention_days(period_seconds)
    back = (now - start).total_seconds() / 86_400
    if back > kept:
        longer = [f"{p} s: {d:g} days" for p, d in reversed(RETENTION) if p > period_seconds and d >= back]
        hint = "ask for a later or shorter window" + (f" or a longer period ({longer[0]})" if longer else "")
        raise ValueError(
            f"days: CloudWatch keeps {period_seconds}-second data for {kept:g} days and the window starts "
            f"{back:.1f} days ago; {hint}"
        )
    return HistoryWindow(start=start, end=aligned, period_seconds=period_seconds)


def trace_rows(
    timestamps: Sequence[datetime], values: Sequence[float], *, window: HistoryWindow
) -> list[tuple[datetime, float]]:
    """``(timestamp, value)`` rows inside the window, ascending, on its grid; non-finite values are gaps.

    A datapoint off the grid (a period the service aligned differently) is an error naming it, not a
    silent shift: the trace reader would reject the file anyway.
    """
    if len(timestamps) != len(values):
        raise ValueError(f"values: {len(values)} values for {len(timestamps)} timestamps")
    rows: dict[datetime, float] = {}
    for stamp, value in zip(timestamps, values, strict=True):
        moment = stamp.astimezone(UTC)
        if not window.start <= moment < window.end:
            continue
        offset = (moment - window.start).total_seconds()
        if offset % window.period_seconds:
            raise ValueError(f"timestamps: {moment:%Y-%m-%dT%H:%M:%SZ} is off the {window.period_seconds}-second grid")
        if math.isfinite(value) and value >= 0:
            rows[moment] = float(value)
    return sorted(rows.items())


def csv_lines(rows: Iterable[tuple[datetime, float]]) -> list[str]:
    """The trace file's lines: header ``timestamp,value``, ISO-8601 UTC, values with full precision."""
    return ["timestamp,value"] + [f"{stamp:%Y-%m-%dT%H:%M:%SZ},{value!r}" for stamp, value in rows]


def replay_flags(target: ScalingTarget, *, period_seconds: int) -> list[str]:
    """``forescale replay`` flags that replay ``target`` with its own configuration.

    A target that learns its capacity per instance has no number yet: the replay's default (the trace's
    p99 needs 30 instances) applies then. The decision interval is rounded up to whole steps of a trace
    exported at ``period_seconds`` (the replay decides at step starts).
    """
    interval = math.ceil(target.decision_interval_seconds / period_seconds) * period_seconds
    flags: dict[str, object] = {
        "boot-seconds": target.boot_seconds,
        "min-instances": target.min_capacity,
        "max-instances": target.max_capacity,
        "target-utilization": target.target_utilization,
        "slo-utilization": target.slo_utilization,
        "decision-interval-seconds": interval,
        "max-step-up": target.max_step_up,
        "max-step-down": target.max_step_down,
        "scale-in-stabilization-seconds": target.scale_in_stabilization_seconds,
        "instance-hour-price": target.cost.instance_hour_price,
        "violation-minute-penalty": target.cost.violation_minute_penalty,
        "unit-label": target.metric.unit_label,
    }
    if target.capacity_per_instance != "learn":
        flags = {"capacity-per-instance": target.capacity_per_instance, **flags}
    return [part for name, value in flags.items() for part in (f"--{name}", _flag_value(value))]


def _flag_value(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)
