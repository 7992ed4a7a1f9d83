"""What every service shares: times aligned on the metric grid, retries with backoff and jitter, metrics."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from functions.domain.target import ScalingTarget

T = TypeVar("T")

#: Custom metric names; the same strings as ``infra_cdk.telemetry`` (a test keeps them equal), which the
#: Lambda code asset does not ship. Every one is a fleet aggregate: none carries the target's id (a custom
#: metric per target per figure would make the bill grow with the fleet; the stored records keep the rest).
FORECAST_ERROR = "ForecastErrorPercent"
FORECAST_AGE = "ForecastAgeSeconds"
#: the decider's SLO breach rule (functions/services/decider_slo.py): breaches begun and targets breached
SLO_BREACHES = "SloBreaches"
TARGETS_OVER_SLO = "TargetsOverSlo"
#: targets without a fresh load in the round, and targets decided with their SLO budget overspent
STALE_TARGETS = "StaleTargets"
SLO_BUDGET_OVERSPENT = "SloBudgetOverspent"
#: targets whose forecasts are degraded (functions/services/decider_degraded.py) after the round
FORECASTS_DEGRADED = "ForecastsDegraded"
SCALING_FAILURES = "ScalingFailures"
REJECTED_EVENTS = "RejectedEvents"
#: decisions the executor refused, by why (see functions/services/executor.py); unrecorded ones are forged
#: or corrupt events on the bus and raise an alarm
DECISIONS_UNRECORDED = "DecisionsUnrecorded"
DECISIONS_SUPERSEDED = "DecisionsSuperseded"
DECISIONS_EXPIRED = "DecisionsExpired"
LEVEL_SHIFT = "LevelShiftFollowed"
#: Forecast accuracy of the trainer's backtests (published with the CloudWatch metrics publisher).
FORECAST_MASE = "ForecastMASE"
FORECAST_MAPE = "ForecastMAPEPercent"
METRICS_NAMESPACE = "Forescale"


#: How long a decision outlives its decision interval: a round (collect, forecast, decide) and the
#: event's delivery take seconds; two minutes more and the next round's decision has been made.
VALIDITY_SLACK = timedelta(seconds=120)


def decision_validity(decision_interval_seconds: int) -> timedelta:
    """How long a decision stays valid: one decision interval (a newer decision is due by then) and
    :data:`VALIDITY_SLACK`. The stack lets an event wait up to 600 s at the rule and in Lambda's queue, and
    a dead-letter redrive has no age limit: the executor refuses a decision that arrives after this."""
    return timedelta(seconds=decision_interval_seconds) + VALIDITY_SLACK


def audit_batch_name(kind: str, round_id: str) -> str:
    """The name of a round's audit batch: ``kind`` and the round id as an object name may hold it (an id may hold
    ``:``; the store adds a digest of the content, so names need not be unique)."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_.=-]', '_', round_id)}"


def field_values(record: Any) -> dict[str, Any]:
    """A dataclass's fields by name, not copied (a handler's JSON answer is the outcome's fields as they are)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def floor_time(moment: datetime, seconds: int) -> datetime:
    """``moment`` (aware) rounded down to a multiple of ``seconds`` since the epoch, in UTC."""
    if moment.tzinfo is None:
        raise ValueError("moment: needs a timezone-aware datetime")
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def naive_utc(moment: datetime) -> datetime:
    """Tz-naive UTC (the Nixtla convention of ``ds`` columns)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def epoch_ns(at: datetime) -> int:
    """Epoch nanoseconds of an aware time (what the decider's forecast record and SLO budget count in,
    computed as the replay does)."""
    import pandas as pd

    return int(pd.Timestamp(at).value)


@dataclass(frozen=True)
class Backoff:
    """Bounded retries with exponential backoff and full jitter (delay uniform in [0, min(cap, base·2^n)])."""

    attempts: int = 4
    base_seconds: float = 0.2
    max_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts: must be at least 1")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Delay before retry number ``retry`` (1-based)."""
        return rng.uniform(0.0, min(self.max_seconds, self.base_seconds * 2 ** (retry - 1)))


E = TypeVar("E", bound=Exception)


@dataclass
class Retrier:
    """Runs a call up to ``backoff.attempts`` times while the error is one that another try may fix."""

    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], None] = lambda _seconds: None
    rng: random.Random = field(default_factory=random.Random)

    def run(
        self,
        call: Callable[[], T],
        *,
        errors: tuple[type[Exception], ...],
        retryable: Callable[[Exception], bool] = lambda _error: True,
    ) -> tuple[T, int]:
        """``(result, attempts used)``. Only ``errors`` are caught; the last one is re-raised with an
        ``attempts`` attribute when attempts run out or ``retryable`` says it is permanent."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(), attempt
            except errors as error:
                if attempt >= self.backoff.attempts or not retryable(error):
                    error.attempts = attempt  # type: ignore[attr-defined]
                    raise
                self.sleep(self.backoff.delay(attempt, self.rng))


class MetricSink(Protocol):
    """Where services send their custom metrics (Powertools EMF in Lambda, a list in tests)."""

    def emit(self, name: str, value: float, *, unit: str = "None", target_id: str | None = None) -> None: ...


class NullSink:
    def emit(self, name: str, value: float, *, unit: str = "None", target_id: str | None = None) -> None:
        return None


@dataclass
class RecordingSink:
    """Keeps every metric as ``(name, value, unit, target_id)``."""

    records: list[tuple[str, float, str, str | None]] = field(default_factory=list)

    def emit(self, name: str, value: float, *, unit: str = "None", target_id: str | None = None) -> None:
        self.records.append((name, float(value), unit, target_id))


def stale_data_after(target: ScalingTarget) -> timedelta:
    """How old the newest load may be before the decider refuses to act on it (and the forecaster to be
    surprised by it)."""
    return timedelta(seconds=max(3 * target.metric.period_seconds, 300))
