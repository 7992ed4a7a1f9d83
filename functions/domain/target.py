"""Configuration of one scaling target: what to watch, what to scale, and within which limits.

Strict on purpose: an unknown field, a value of the wrong type (``true`` or ``"1200"`` where a number is
due: nothing is coerced), a number that is not finite or out of its bounds, or an inconsistent bound is
rejected with a message naming the field, at synth time (CDK reads the targets from ``cdk.json``) and at run
time alike. Tag discovery, whose values are all text, validates with ``strict=False``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from events.base import TargetId
from events.contracts import Mode, TargetKind
from events.errors import ContractError

_STATISTIC = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d{1,2})?)$")
MAX_CAPACITY_LIMIT = 10_000
#: ``capacity_per_instance`` bounds, for any load unit: below a millionth of a unit per instance or above
#: 1e12 (the bytes a minute of a 100 Gbit/s instance are 7.5e11) the unit is wrong, not the instance.
MIN_CAPACITY_PER_INSTANCE = 1e-6
MAX_CAPACITY_PER_INSTANCE = 1e12
#: Zone keys whose meaning depends on the host's time zone database or configuration.
_HOST_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_HOST_ZONE_PREFIXES = ("posix/", "right/")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True, allow_inf_nan=False)


class LoadMetric(_Strict):
    """The CloudWatch metric that measures the target's load (a metric, or a metric-math expression)."""

    namespace: str | None = Field(
        default=None, min_length=1, max_length=255, description="CloudWatch namespace, e.g. 'AWS/ApplicationELB'."
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=255, description="Metric name, e.g. 'RequestCount'."
    )
    dimensions: dict[Annotated[str, StringConstraints(min_length=1, max_length=255)], str] = Field(
        default_factory=dict, max_length=30, description="Dimension name to value (at most 30)."
    )
    statistic: str = Field(
        default="Sum", description="SampleCount, Average, Sum, Minimum, Maximum or a percentile (p99)."
    )
    expression: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="A CloudWatch metric-math expression instead of namespace/name (give one or the other).",
    )
    period_seconds: int = Field(default=60, le=86_400, description="Step of the load series (60 s to one day).")
    unit_label: str = Field(default="req/min", max_length=32, description="Unit shown in reasons and dashboards.")

    @field_validator("statistic")
    @classmethod
    def _statistic(cls, value: str) -> str:
        if not _STATISTIC.match(value):
            raise ValueError("must be SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p99")
        return value

    @field_validator("period_seconds")
    @classmethod
    def _period(cls, value: int) -> int:
        if value < 60 or value % 60:
            raise ValueError("must be a positive multiple of 60 seconds")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.expression is None and (self.namespace is None or self.name is None):
            raise ValueError("namespace: give namespace and name, or an expression")
        if self.expression is not None and (self.namespace is not None or self.name is not None):
            raise ValueError("expression: give either an expression or namespace/name, not both")
        return self


class CostModel(_Strict):
    """Prices used to pick the load quantile that minimises cost plus SLO-violation penalty."""

    instance_hour_price: float = Field(default=0.10, gt=0, le=1000, description="Price of one instance-hour.")
    violation_minute_penalty: float = Field(
        default=0.11,
        ge=0,
        le=1_000_000,
        description=(
            "Advanced: the price of one minute with demand above in-service capacity, which chooses the load "
            "quantile (a higher value buys fewer violations for more cost); the SLO budget lowers it, down to a "
            "quarter, while less than half the budget is spent. "
            "The default is 1.1 instance-hour prices; set slo_budget instead to say what you need."
        ),
    )


class SloBudget(_Strict):
    """The SLO in the user's terms: how long the target may be under-provisioned (functions/domain/slo_budget.py)."""

    under_provisioning_pct: float | Literal["auto"] | None = Field(
        default="auto",
        description=(
            "Share of minutes, in percent (0 to 50), in which in-service capacity may be below the demand at slo_utilization, "
            "over the rolling window. 'auto': what target tracking at target_utilization would have had on the "
            "target's own last window of load, at least 0.05 %. null: no budget (the cost model alone prices "
            "violations)."
        ),
    )
    window_days: float = Field(default=7.0, ge=1, le=90, description="The rolling window the budget is spent over.")

    @field_validator("under_provisioning_pct")
    @classmethod
    def _share(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, float | int) and not 0 < value <= 50:
            raise ValueError("must lie in (0, 50] percent, or be 'auto' or null")
        return value


class ScalingTarget(_Strict):
    """One EC2 Auto Scaling group or ECS service managed by forescale."""

    target_id: TargetId = Field(description="Your name for the target: letters, digits, '-', '_', '.', ':'.")
    kind: TargetKind = Field(description="'asg' (EC2 Auto Scaling group) or 'ecs' (ECS service).")
    asg_name: str | None = Field(default=None, min_length=1, max_length=255, description="With kind 'asg'.")
    ecs_cluster: str | None = Field(default=None, min_length=1, max_length=255, description="With kind 'ecs'.")
    ecs_service: str | None = Field(default=None, min_length=1, max_length=255, description="With kind 'ecs'.")
    metric: LoadMetric = Field(description="The load metric (see LoadMetric).")
    capacity_per_instance: float | Literal["learn"] = Field(
        description=(
            "Load one instance serves at 100 % utilisation, in the metric's unit (a JSON number from 1e-06 to "
            "1e12: outside that the unit is wrong), or 'learn' to fit it from history."
        )
    )
    utilization_metric: LoadMetric | None = Field(
        default=None,
        description=(
            "With capacity_per_instance 'learn': the fleet's average utilisation in percent (0-100) that the load "
            "is learnt against, e.g. memory from Container Insights. Default: the group's or service's "
            "CPUUtilization. Its period must be the load metric's."
        ),
    )
    boot_seconds: int = Field(
        default=300, ge=0, le=3600, description="Launch to in service: capacity is added this early."
    )
    min_capacity: int = Field(default=1, ge=0, le=MAX_CAPACITY_LIMIT, description="forescale never goes below it.")
    max_capacity: int = Field(ge=1, le=MAX_CAPACITY_LIMIT, description="forescale never goes above it.")
    target_utilization: float = Field(
        default=0.6, gt=0, lt=1, description="Set-point of the reactive rule (target tracking) forescale falls back to."
    )
    slo_utilization: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Highest utilisation that still meets your service level: above it a minute is under-provisioned.",
    )
    mode: Mode = Field(
        default="forecast_only",
        description="'forecast_only' (decisions recorded, nothing changed), 'floor' (raises the minimum) or 'direct'.",
    )
    max_step_up: int = Field(default=100, ge=1, le=MAX_CAPACITY_LIMIT, description="Most instances added per decision.")
    max_step_down: int = Field(
        default=10, ge=1, le=MAX_CAPACITY_LIMIT, description="Most instances removed per decision."
    )
    scale_in_stabilization_seconds: int = Field(
        default=300, ge=0, le=86_400, description="The plan must stay lower this long before a scale-in."
    )
    decision_interval_seconds: int = Field(
        default=300, ge=60, le=3600, description="Seconds between decisions; a multiple of metric.period_seconds."
    )
    timezone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        description="IANA zone in which reasons show times, e.g. 'Europe/Paris' (not 'localtime': host-dependent).",
    )
    tags: dict[str, str] = Field(default_factory=dict, max_length=50, description="Used by business-event selectors.")
    cost: CostModel = Field(default_factory=CostModel, description="Prices (see CostModel).")
    slo_budget: SloBudget = Field(default_factory=SloBudget, description="The SLO budget (see SloBudget).")

    @field_validator("capacity_per_instance")
    @classmethod
    def _capacity(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            return value
        if value < MIN_CAPACITY_PER_INSTANCE:
            raise ValueError(
                f"must be at least {MIN_CAPACITY_PER_INSTANCE:g} or 'learn' (is the load's unit too large?)"
            )
        if value > MAX_CAPACITY_PER_INSTANCE:
            raise ValueError(
                f"must be at most {MAX_CAPACITY_PER_INSTANCE:g} or 'learn' (is the load's unit too small?)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value in _HOST_ZONES or value.startswith(_HOST_ZONE_PREFIXES):
            raise ValueError(f"{value!r} depends on the host; give an IANA zone such as 'Europe/Paris' or 'UTC'")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity: {self.min_capacity} exceeds max_capacity {self.max_capacity}")
        if self.target_utilization >= self.slo_utilization:
            raise ValueError("target_utilization: must be below slo_utilization")
        if self.kind == "asg":
            if not self.asg_name:
                raise ValueError("asg_name: required when kind is 'asg'")
            if self.ecs_cluster or self.ecs_service:
                raise ValueError("ecs_cluster: not allowed when kind is 'asg'")
        else:
            if not self.ecs_cluster or not self.ecs_service:
                raise ValueError("ecs_service: ecs_cluster and ecs_service are required when kind is 'ecs'")
            if self.asg_name:
                raise ValueError("asg_name: not allowed when kind is 'ecs'")
        if self.decision_interval_seconds % self.metric.period_seconds:
            raise ValueError("decision_interval_seconds: must be a multiple of metric.period_seconds")
        if self.utilization_metric is not None:
            if self.capacity_per_instance != "learn":
                raise ValueError("utilization_metric: only used when capacity_per_instance is 'learn'")
            if self.utilization_metric.period_seconds != self.metric.period_seconds:
                raise ValueError(
                    f"utilization_metric: period_seconds {self.utilization_metric.period_seconds} differs from "
                    f"metric.period_seconds {self.metric.period_seconds} (the two series are paired step by step)"
                )
        return self

    @property
    def resource_id(self) -> str:
        """The Application Auto Scaling style id: ``asg-name`` or ``service/cluster/service``."""
        if self.kind == "asg":
            return self.asg_name or ""
        return f"service/{self.ecs_cluster}/{self.ecs_service}"

    def clamp(self, capacity: int) -> int:
        """``capacity`` forced into ``[min_capacity, max_capacity]``: no path may scale beyond bounds."""
        return max(self.min_capacity, min(self.max_capacity, int(capacity)))


def parse_targets(raw: object) -> list[ScalingTarget]:
    """Parse a list of target configurations; raises :class:`ContractError` naming index and field."""
    if not isinstance(raw, list):
        raise ValueError("targets: must be a list of target objects")
    targets: list[ScalingTarget] = []
    for index, item in enumerate(raw):
        try:
            targets.append(ScalingTarget.model_validate(item))
        except ValidationError as exc:
            raise ContractError(f"targets[{index}]", exc) from exc
    seen: set[str] = set()
    for target in targets:
        if target.target_id in seen:
            raise ValueError(f"targets: target_id {target.target_id!r} appears twice")
        seen.add(target.target_id)
    return targets
