"""The replay's scenario: every knob of docs/replay-spec.md with its default, resolved against a trace."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
from pydantic import ValidationError

from functions.domain.target import CostModel, LoadMetric, ScalingTarget, SloBudget
from functions.domain.trace import Trace

#: The default capacity makes the trace's p99 load need this many instances at the SLO utilisation.
P99_INSTANCES = 30
#: forescale's own defaults (the target configuration's) are the scenario's defaults
_TARGET_DEFAULTS = {name: field.default for name, field in ScalingTarget.model_fields.items()}
_COST_DEFAULTS = CostModel()


@dataclass(frozen=True)
class Scenario:
    """What is replayed and how; ``None`` means "derive from the trace" (see :meth:`resolve`)."""

    capacity_per_instance: float | None = None
    boot_seconds: int = 300
    min_instances: int = 1
    max_instances: int = 500
    target_utilization: float = 0.6
    slo_utilization: float = 0.9
    warmup_days: float = 7.0
    # forescale's own settings (the target configuration the predictive policy runs with)
    decision_interval_seconds: int | None = None
    max_step_up: int = _TARGET_DEFAULTS["max_step_up"]
    max_step_down: int = _TARGET_DEFAULTS["max_step_down"]
    scale_in_stabilization_seconds: int = _TARGET_DEFAULTS["scale_in_stabilization_seconds"]
    instance_hour_price: float = _COST_DEFAULTS.instance_hour_price
    violation_minute_penalty: float = _COST_DEFAULTS.violation_minute_penalty
    #: the SLO budget (ScalingTarget.slo_budget): percent of minutes, "auto" or None (off), and its window
    slo_budget_pct: float | Literal["auto"] | None = "auto"
    slo_budget_window_days: float = 7.0
    plan_horizon_seconds: int = 3600
    refit_every_seconds: int = 86_400
    forecast_lead_days: float = 1.0
    unit_label: str = ""

    def __post_init__(self) -> None:
        if self.capacity_per_instance is not None and not self.capacity_per_instance > 0:
            raise ValueError("capacity_per_instance: must be positive")
        if self.boot_seconds < 0:
            raise ValueError("boot_seconds: must be >= 0")
        if not 0 <= self.min_instances <= self.max_instances:
            raise ValueError(f"min_instances: {self.min_instances} must lie in [0, max_instances={self.max_instances}]")
        if not 0 < self.target_utilization < self.slo_utilization <= 1:
            raise ValueError("target_utilization: need 0 < target_utilization < slo_utilization <= 1")
        if self.warmup_days < 0:
            raise ValueError("warmup_days: must be >= 0")
        if self.refit_every_seconds <= 0:
            raise ValueError("refit_every_seconds: must be positive")
        if self.forecast_lead_days < 0:
            raise ValueError("forecast_lead_days: must be >= 0")
        self.slo_budget()  # the target's own rules, checked before any replay

    def slo_budget(self) -> SloBudget:
        """The target's SLO budget; its validation errors name this scenario's fields."""
        try:
            return SloBudget(under_provisioning_pct=self.slo_budget_pct, window_days=self.slo_budget_window_days)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = {"window_days": "slo_budget_window_days"}.get(str(error["loc"][0]), "slo_budget_pct")
            raise ValueError(f"{name}: {error['msg']}") from None

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def resolve(self, trace: Trace) -> ResolvedScenario:
        """Fill the trace-dependent defaults; errors name the field."""
        cap = self.capacity_per_instance
        if cap is None:
            known = trace.y[~np.isnan(trace.y)]
            if len(known) == 0:
                raise ValueError("trace: has no known load")
            p99 = float(np.percentile(known, 99))
            if not p99 > 0:
                raise ValueError("capacity_per_instance: the trace's p99 load is 0; give capacity_per_instance")
            cap = p99 / (P99_INSTANCES * self.slo_utilization)
        step = trace.step_seconds
        interval = self.decision_interval_seconds
        if interval is None:
            interval = max(300, step)
            interval = math.ceil(interval / step) * step
        if interval % step:
            raise ValueError(f"decision_interval_seconds: {interval} is not a multiple of the trace step {step}")
        warmup_steps = round(self.warmup_days * 86_400 / step)
        if warmup_steps >= len(trace):
            raise ValueError(f"warmup_days: {self.warmup_days} days leave no step of the trace to score")
        return ResolvedScenario(
            scenario=self,
            capacity_per_instance=cap,
            step_seconds=step,
            boot_steps=math.ceil(self.boot_seconds / step),
            warmup_steps=warmup_steps,
            decision_interval_seconds=interval,
            decision_steps=interval // step,
        )


@dataclass(frozen=True)
class ResolvedScenario:
    """A scenario with its numbers fixed for one trace."""

    scenario: Scenario
    capacity_per_instance: float
    step_seconds: int
    boot_steps: int
    warmup_steps: int
    decision_interval_seconds: int
    decision_steps: int

    def target(self, name: str) -> ScalingTarget:
        """The forescale target configuration the predictive policy runs with (mode ``direct``)."""
        s = self.scenario
        safe_name = "".join(c if c.isalnum() or c in "_.:-" else "-" for c in name)[:100] or "trace"
        return ScalingTarget(
            target_id=f"replay-{safe_name}",
            kind="asg",
            asg_name=f"replay-{safe_name}",
            metric=LoadMetric(
                namespace="forescale/replay", name=safe_name, period_seconds=self.step_seconds, unit_label=s.unit_label
            ),
            capacity_per_instance=self.capacity_per_instance,
            boot_seconds=s.boot_seconds,
            min_capacity=s.min_instances,
            max_capacity=s.max_instances,
            target_utilization=s.target_utilization,
            slo_utilization=s.slo_utilization,
            mode="direct",
            max_step_up=s.max_step_up,
            max_step_down=s.max_step_down,
            scale_in_stabilization_seconds=s.scale_in_stabilization_seconds,
            decision_interval_seconds=self.decision_interval_seconds,
            cost=CostModel(
                instance_hour_price=s.instance_hour_price, violation_minute_penalty=s.violation_minute_penalty
            ),
            slo_budget=s.slo_budget(),
        )
