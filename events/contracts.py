"""Every event on the forescale bus, one pydantic model each.

Pipeline: collector → ``MetricsCollected`` → forecaster → ``ForecastReady`` → decider →
``ScalingDecided`` → executor → ``ScalingExecuted`` | ``ScalingFailed``. The trainer emits
``ModelTrained``, the forecaster ``AnomalyDetected``, the decider ``SloBreached`` (→ alarm responder and the
notification topic) and ``ForecastDegraded`` (→ notification topic); users send ``BusinessEvent``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from events.base import BusEvent, EventId, TargetId, Timestamp

Mode = Literal["forecast_only", "floor", "direct"]
TargetKind = Literal["asg", "ecs"]
ScalingAction = Literal["scale_out", "scale_in", "hold"]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(max_length=256)]

#: Business events longer than this, or arriving more than this before their start, are refused: they are
#: almost always typos (a wrong year). The start is judged against the receiver's clock (the intake and the
#: operator API), since a contract has none.
MAX_EVENT_DAYS = 31
#: Business events that ended longer ago than this when they arrive are refused: stored events are dropped
#: this long after their end (and the trainer learns from the last 21 days), so one would be stored for nothing.
#: A recent past event is accepted: the trainer learns its effect.
MAX_EVENT_AGE_DAYS = 90
MAX_MULTIPLIER = 100.0
#: The largest load any contract carries, in any unit: 10,000 instances (the largest ``max_capacity``) of the
#: largest ``capacity_per_instance`` (1e12, the bytes a minute of a 100 Gbit/s instance are 7.5e11). A larger
#: number is a unit mistake or corruption, never a load to size capacity for.
MAX_LOAD = 1e16


class _Part(BaseModel):
    """A part nested in a contract: as strict as the contract (no unknown field, no infinite or NaN number)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- collection


class CollectedTarget(_Part):
    """What the collector learned about one target in one round."""

    target_id: TargetId
    last_timestamp: Timestamp | None = Field(description="Newest load sample stored; None when none arrived.")
    last_value: float | None = Field(default=None, ge=0, le=MAX_LOAD)
    points_written: int = Field(ge=0)
    desired_capacity: int | None = Field(default=None, ge=0)
    in_service_capacity: int | None = Field(default=None, ge=0)
    metric_missing: bool = False


class MetricsCollected(BusEvent):
    SOURCE = "forescale.collector"
    DETAIL_TYPE = "MetricsCollected"

    round_id: EventId
    collected_at: Timestamp
    step_seconds: int = Field(gt=0, le=86_400)
    batch_index: int = Field(default=0, ge=0)
    batch_count: int = Field(default=1, ge=1)
    targets: list[CollectedTarget] = Field(min_length=1, max_length=500)


# --------------------------------------------------------------------------- forecasting


class ForecastSummary(_Part):
    """Pointer to a stored forecast plus what the decider needs to judge it without loading it."""

    target_id: TargetId
    forecast_id: EventId
    issued_at: Timestamp
    history_end: Timestamp = Field(description="Timestamp of the newest observation the forecast used.")
    step_seconds: int = Field(gt=0)
    horizon_steps: int = Field(ge=0)
    model_version: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1)
    no_forecast_reason: str | None = Field(
        default=None,
        max_length=300,
        description="Set when there is no usable forecast (too little history...).",
    )
    peak_p90: float | None = Field(default=None, ge=0)
    desired_capacity: int | None = Field(
        default=None, ge=0, description="Desired capacity the collector saw in the round this forecast answers."
    )
    in_service_capacity: int | None = Field(default=None, ge=0)
    recent_load: float | None = Field(
        default=None, ge=0, le=MAX_LOAD, description="Newest observed load (at history_end)."
    )


class ForecastReady(BusEvent):
    SOURCE = "forescale.forecaster"
    DETAIL_TYPE = "ForecastReady"

    round_id: EventId
    forecasts: list[ForecastSummary] = Field(min_length=1, max_length=500)


class AnomalousPoint(_Part):
    ds: Timestamp
    value: float = Field(ge=-MAX_LOAD, le=MAX_LOAD)
    score: float


class AnomalyDetected(BusEvent):
    SOURCE = "forescale.forecaster"
    DETAIL_TYPE = "AnomalyDetected"

    target_id: TargetId
    detected_at: Timestamp
    method: ShortText
    points: list[AnomalousPoint] = Field(min_length=1, max_length=1000)


class ModelScore(_Part):
    horizon: ShortText
    mase: float = Field(ge=0)
    smape: float = Field(ge=0, le=200)


class ModelTrained(BusEvent):
    SOURCE = "forescale.trainer"
    DETAIL_TYPE = "ModelTrained"

    target_id: TargetId
    model_version: str = Field(min_length=1, max_length=64)
    trained_at: Timestamp
    training_start: Timestamp
    training_end: Timestamp
    artifact_uri: str = Field(pattern=r"^s3://")
    promoted: bool = Field(description="Whether the challenger replaced the champion.")
    scores: list[ModelScore] = Field(default_factory=list, max_length=50)


# --------------------------------------------------------------------------- decisions and actions


#: The largest sequence: exact as a JSON number in every reader (a double holds integers up to 2^53, and
#: EventBridge compares numbers as doubles); one decision a minute takes 17 billion years to reach it.
MAX_SEQUENCE = 2**53 - 1
#: The longest a decision may stay valid: the longest decision interval (1 h) with a round's slack, and
#: room for the alarm responder's decisions; anything longer is a corrupt or forged event.
MAX_VALIDITY_SECONDS = 7200


class ScalingDecided(BusEvent):
    SOURCE = "forescale.decider"
    DETAIL_TYPE = "ScalingDecided"

    decision_id: EventId
    target_id: TargetId
    kind: TargetKind
    mode: Mode
    decided_at: Timestamp
    valid_until: Timestamp = Field(
        description="After this the executor refuses the decision as expired: about one decision interval "
        "after it was made, since a newer decision is due by then."
    )
    sequence: int = Field(
        ge=0,
        le=MAX_SEQUENCE,
        description="Monotonic per target, one per recorded decision (holds included): the executor carries "
        "out only the newest.",
    )
    previous_desired: int = Field(ge=0)
    desired_capacity: int = Field(ge=0)
    min_capacity: int = Field(ge=0)
    max_capacity: int = Field(ge=0)
    action: ScalingAction
    confidence: float = Field(ge=0, le=1)
    reactive: bool = Field(default=False, description="True when the decision fell back to the reactive rule.")
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _within_bounds(self) -> Self:
        validity = (self.valid_until - self.decided_at).total_seconds()
        if not 0 < validity <= MAX_VALIDITY_SECONDS:
            raise ValueError(
                f"valid_until: must be after decided_at and at most {MAX_VALIDITY_SECONDS} s later, not {validity:g} s"
            )
        if self.min_capacity > self.max_capacity:
            raise ValueError("min_capacity: must not exceed max_capacity")
        if not self.min_capacity <= self.desired_capacity <= self.max_capacity:
            raise ValueError(
                f"desired_capacity: {self.desired_capacity} is outside [{self.min_capacity}, {self.max_capacity}]"
            )
        return self


#: The highest utilisation a breach reports: a load meeting no in-service instance is infinitely over its SLO,
#: which JSON cannot carry; any value this high already asks for the largest step the target allows.
MAX_UTILIZATION = 1e6


class SloBreached(BusEvent):
    """A target's utilisation went above its ``slo_utilization`` in ``datapoints_to_alarm`` of the last
    ``evaluation_periods`` periods (the rule the replay simulates): sent once per episode, when the rule
    goes from OK to breached. The alarm responder scales out on it; the notification topic names the target."""

    SOURCE = "forescale.decider"
    DETAIL_TYPE = "SloBreached"

    breach_id: EventId
    target_id: TargetId
    detected_at: Timestamp
    datapoint_at: Timestamp = Field(description="Start of the newest period evaluated (the one that breached).")
    slo_utilization: float = Field(gt=0, le=1)
    datapoints: list[Annotated[float, Field(ge=0, le=MAX_UTILIZATION)]] = Field(
        min_length=1,
        max_length=10,
        description="Utilisation of the evaluated periods that had data, oldest first (what CloudWatch's "
        "alarm reports as recentDatapoints).",
    )
    evaluation_periods: int = Field(ge=1, le=10)
    datapoints_to_alarm: int = Field(ge=1, le=10)
    in_service_capacity: int = Field(ge=0)
    desired_capacity: int = Field(ge=0)

    @model_validator(mode="after")
    def _rule(self) -> Self:
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError("datapoints_to_alarm: must not exceed evaluation_periods")
        if len(self.datapoints) > self.evaluation_periods:
            raise ValueError("datapoints: at most evaluation_periods values")
        return self


#: The highest forecast error a ``ForecastDegraded`` reports (percent); larger figures are reported as this.
MAX_ERROR_PERCENT = 1e6


class ForecastDegraded(BusEvent):
    """A target's recent forecast error went above the deployment's threshold: sent once per episode, when it
    crosses the threshold; the episode ends when the error falls below ``clear_below_percent``. The notification
    topic names the target (the fleet alarm ``ForecastsDegraded`` counts such targets)."""

    SOURCE = "forescale.decider"
    DETAIL_TYPE = "ForecastDegraded"

    degraded_id: EventId
    target_id: TargetId
    detected_at: Timestamp
    error_percent: float = Field(
        ge=0,
        le=MAX_ERROR_PERCENT,
        description="100 x the mean absolute error of the forecasts' medians (as issued) over the mean load plus "
        "offset, on the scored steps of the forecasts whose windows ended in the last window_seconds.",
    )
    naive_error_percent: float = Field(
        ge=0, le=MAX_ERROR_PERCENT, description="The same figure for seasonal naive (the load a day earlier)."
    )
    threshold_percent: float = Field(gt=0, le=1000)
    clear_below_percent: float = Field(gt=0, le=1000, description="The episode ends when the error falls below.")
    scored_steps: int = Field(ge=1, description="Steps the figures are over (a step once per forecast scoring it).")
    window_seconds: int = Field(ge=1)
    offset: float = Field(ge=0, le=MAX_LOAD, description="Load added to the mean: a tenth of one instance's load.")

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if self.clear_below_percent >= self.threshold_percent:
            raise ValueError("clear_below_percent: must be below threshold_percent")
        return self


class ScalingExecuted(BusEvent):
    SOURCE = "forescale.executor"
    DETAIL_TYPE = "ScalingExecuted"

    decision_id: EventId
    target_id: TargetId
    executed_at: Timestamp
    previous_capacity: int = Field(ge=0)
    new_capacity: int = Field(ge=0)
    attempts: int = Field(ge=1)
    verified: bool


class ScalingFailed(BusEvent):
    SOURCE = "forescale.executor"
    DETAIL_TYPE = "ScalingFailed"

    decision_id: EventId
    target_id: TargetId
    failed_at: Timestamp
    error_code: ShortText
    error_message: str = Field(max_length=1000)
    attempts: int = Field(ge=1)
    rolled_back: bool
    restored_capacity: int | None = Field(default=None, ge=0)


# --------------------------------------------------------------------------- business events


class BusinessEvent(BusEvent):
    """A campaign, launch or other known surge that users announce on the bus.

    Affects either the listed targets or every target whose tags match ``tag_selector``. Gives an
    ``expected_multiplier`` of the normal load, an ``expected_load`` in the metric's unit, or
    neither, in which case the uplift learned from past events of the same ``event_type`` is used.
    """

    SOURCE = "forescale.business"
    DETAIL_TYPE = "BusinessEvent"

    name: ShortText
    event_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = Field(
        description="Category used to learn the effect of events, e.g. 'campaign', 'launch'."
    )
    targets: list[TargetId] = Field(default_factory=list, max_length=100)
    tag_selector: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=10)
    start: Timestamp
    end: Timestamp
    expected_multiplier: float | None = Field(default=None, gt=0, le=MAX_MULTIPLIER)
    expected_load: float | None = Field(
        default=None, ge=0, le=MAX_LOAD, description="Load expected during the event, in the target metric's unit."
    )
    note: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if not self.targets and not self.tag_selector:
            raise ValueError("targets: give the affected targets or a tag_selector")
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        if (self.end - self.start).total_seconds() > MAX_EVENT_DAYS * 86_400:
            raise ValueError(f"end: an event lasts at most {MAX_EVENT_DAYS} days")
        if self.expected_multiplier is not None and self.expected_load is not None:
            raise ValueError("expected_load: give expected_multiplier or expected_load, not both")
        return self


ALL_CONTRACTS: tuple[type[BusEvent], ...] = (
    MetricsCollected,
    ForecastReady,
    AnomalyDetected,
    ModelTrained,
    ScalingDecided,
    ScalingExecuted,
    ScalingFailed,
    BusinessEvent,
    SloBreached,
    ForecastDegraded,
)
