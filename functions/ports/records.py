"""Records the state store keeps: target state, forecasts, business events, models, kill switch.

:class:`functions.ports.state.StateStore` stores and returns them; the item layouts are the adapter's
(:mod:`functions.adapters.dynamodb`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from events.contracts import BusinessEvent, ScalingExecuted, ScalingFailed
from functions.ports.times import require_aware

if TYPE_CHECKING:
    from models.api import ForecastPath

#: ``target_id`` of an event effect learned for all targets.
ALL_TARGETS = "*"
#: what became of a scaling decision: applied, or failed and recorded (not the bus's ``ScalingAction``, the verb)
ScalingOutcome = ScalingExecuted | ScalingFailed


@dataclass(frozen=True)
class StoredTargetState:
    """What the decider and executor remember about one target between rounds.

    ``version`` is the optimistic-concurrency token: 0 means never stored. Write back the state you
    read (changed with :func:`dataclasses.replace`); the store raises :class:`ConflictError` if
    another writer stored a newer version in between, and returns the state with the new version.
    """

    target_id: str
    sequence: int = 0
    last_desired: int | None = None
    last_safe_capacity: int | None = None
    last_scale_out_at: datetime | None = None
    last_scale_in_at: datetime | None = None
    last_decision_id: str | None = None
    updated_at: datetime | None = None
    version: int = 0
    #: the decider: since when its plan has stayed below the current capacity (scale-in stabilisation)
    plan_lower_since: datetime | None = None
    #: the executor: sequence of the newest decision it handled (older decisions are ignored)
    executed_sequence: int = 0
    #: the decider: why its newest decision was reactive (None: it was on the forecast)
    reactive_why: str | None = None
    #: the decider: the forecast it decided on last (a summary of the same forecast is a round between decisions)
    decided_forecast_id: str | None = None
    #: the decider's target tracking: consecutive datapoints above / below its set-point, and the newest one fed
    tracking_above: int = 0
    tracking_below: int = 0
    tracking_fed_at: datetime | None = None
    #: the decider's SLO budget controller (:class:`functions.domain.slo_budget.BudgetState`): log of the margin,
    #: decayed minutes observed and under-provisioned, the newest datapoint observed, and the ``auto``
    #: reference (target tracking's under-provisioned share, percent) with when it was computed
    budget_level: float = 0.0
    budget_minutes: float = 0.0
    budget_under_minutes: float = 0.0
    budget_under_run_minutes: float = 0.0
    budget_observed_at: datetime | None = None
    budget_reference_pct: float | None = None
    budget_reference_at: datetime | None = None
    #: the alarm responder raised capacity since the decider's newest decision (until the next one the
    #: capacity is the alarm's, not the forecast's: the SLO budget's margin does not move on those minutes)
    alarm_governs: bool = False
    #: the decider's SLO breach rule (:func:`functions.domain.reactive.slo_alarm_step`): utilisation of the last
    #: evaluated periods (NaN: no data), whether the rule is breached, and the newest datapoint fed
    slo_recent: tuple[float, ...] = ()
    slo_breached: bool = False
    slo_fed_at: datetime | None = None
    #: the decider's forecast error alert (:mod:`functions.services.decider_degraded`): whether an episode is on
    forecast_degraded: bool = False
    #: the decider: the round (``ForecastReady.round_id``) of its newest decision and that decision's S3 audit row
    #: (JSON text), kept until its next round: the row goes to S3 with the batch, after the state is stored, so a
    #: retry of the round (finding the decision made) writes it again
    audit_round: str | None = None
    audit_row: str | None = None
    #: the round's other events (``SloBreached``, ``ForecastDegraded``) as JSON, kept as the row is: a retry of the
    #: round finds its rules fed already and would not send them again
    round_events: str | None = None


@dataclass(frozen=True)
class StoredForecast:
    """The latest forecast of one target: quantile paths on timestamps (UTC), or why there is none."""

    target_id: str
    forecast_id: str
    issued_at: datetime
    model_version: str
    confidence: float
    ds: tuple[datetime, ...] = ()
    p50: tuple[float, ...] = ()
    p90: tuple[float, ...] = ()
    p99: tuple[float, ...] = ()
    history_end: datetime | None = None
    no_forecast_reason: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.issued_at, "issued_at")
        for name in ("p50", "p90", "p99"):
            values = getattr(self, name)
            if len(values) != len(self.ds):
                raise ValueError(f"{name}: has {len(values)} values for {len(self.ds)} timestamps")
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"{name}: values must be finite")
        for stamp in self.ds:
            require_aware(stamp, "ds")

    @classmethod
    def from_path(
        cls,
        path: ForecastPath,
        *,
        forecast_id: str,
        model_version: str,
        history_end: datetime | None = None,
    ) -> StoredForecast:
        """Build from a :class:`models.api.ForecastPath` (its tz-naive ``ds`` are UTC)."""
        stamps = tuple(
            (ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)).to_pydatetime() for ts in path.ds
        )
        return cls(
            target_id=path.unique_id,
            forecast_id=forecast_id,
            issued_at=require_aware(path.issued_at, "issued_at"),
            model_version=model_version,
            confidence=float(path.confidence),
            ds=stamps,
            p50=tuple(float(v) for v in path.p50),
            p90=tuple(float(v) for v in path.p90),
            p99=tuple(float(v) for v in path.p99),
            history_end=history_end,
        )

    def to_path(self) -> ForecastPath:
        """The :class:`models.api.ForecastPath` (tz-naive UTC ``ds``, Nixtla convention)."""
        import numpy as np
        import pandas as pd

        from models.api import ForecastPath

        if self.no_forecast_reason is not None:
            raise ValueError(
                f"no_forecast_reason: forecast {self.forecast_id!r} has no path ({self.no_forecast_reason})"
            )
        return ForecastPath(
            unique_id=self.target_id,
            issued_at=self.issued_at,
            ds=pd.DatetimeIndex([stamp.replace(tzinfo=None) for stamp in self.ds]),
            p50=np.asarray(self.p50, dtype=float),
            p90=np.asarray(self.p90, dtype=float),
            p99=np.asarray(self.p99, dtype=float),
            confidence=self.confidence,
            model=self.model_version,
        )


@dataclass(frozen=True)
class StoredBusinessEvent:
    """An accepted business event as stored for one affected target."""

    event_id: str
    target_id: str
    event: BusinessEvent
    received_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RejectedBusinessEvent:
    """A business event that failed validation, kept with its errors so that nothing is lost."""

    event_id: str
    received_at: datetime
    payload: str
    errors: tuple[str, ...]
    expires_at: datetime | None = None


@dataclass(frozen=True)
class EventEffect:
    """The uplift learned for one event type on one target (``target_id='*'``: all targets)."""

    event_type: str
    target_id: str
    multiplier: float
    samples: int
    updated_at: datetime
    extra: Mapping[str, float] = field(default_factory=dict)
    version: int = 0


@dataclass(frozen=True)
class ModelVersion:
    """One trained model of a target: where its artifacts are and how it scored in backtests."""

    target_id: str
    version: str
    created_at: datetime
    artifact_uri: str
    scores: Mapping[str, float] = field(default_factory=dict)
    info: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Champion:
    """The model version a target's forecasts currently use."""

    target_id: str
    version: str
    promoted_at: datetime
    previous_version: str | None = None


@dataclass(frozen=True)
class KillSwitch:
    """Operator stop: when engaged, forescale changes no capacity (globally, or for one target)."""

    target_id: str | None
    engaged: bool
    reason: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class LearnedCapacity:
    """``capacity_per_instance`` learned by the trainer for a target that says ``learn``.

    ``capacity_per_instance`` is None while it cannot be learned yet; ``reason`` then says why and
    ``samples`` counts the usable points the trainer had.
    """

    target_id: str
    capacity_per_instance: float | None
    samples: int
    r2: float
    outliers: int
    learned_at: datetime
    method: str = "huber-through-origin"
    reason: str | None = None
    version: int = 0
