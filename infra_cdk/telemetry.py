"""Custom CloudWatch metrics the dashboards and alarms read: the contract the handlers must emit.

Every forescale metric lives in namespace :data:`NAMESPACE` with the dimension ``service`` set to
:data:`SERVICE` (what Powertools Metrics adds when ``POWERTOOLS_SERVICE_NAME=forescale``) and, for
per-target metrics, ``TargetId``. Handlers emit them as embedded metric format through Powertools,
so no ``cloudwatch:PutMetricData`` permission is needed.

The stack passes ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` from here. The
handlers spell the same names in ``functions/services/common.py`` (the Lambda code asset does not ship
this package); ``tests/infra/test_telemetry.py`` keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "Forescale"
SERVICE = "forescale"
TARGET_DIMENSION = "TargetId"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    emitted_by: str
    meaning: str
    per_target: bool = True


FORECAST_P50 = MetricSpec(
    "ForecastP50", "None", "forecaster", "median forecast of the load, stamped at the time it forecasts"
)
FORECAST_P90 = MetricSpec("ForecastP90", "None", "forecaster", "90th percentile forecast of the load (upper band)")
FORECAST_ERROR = MetricSpec(
    "ForecastErrorPercent",
    "Percent",
    "forecaster",
    "absolute percentage error of the p50 issued one decision interval ago against the observed load",
)
FORECAST_AGE = MetricSpec(
    "ForecastAgeSeconds", "Seconds", "decider", "age of the forecast the decider used (issued_at to decision)"
)
DECIDED_CAPACITY = MetricSpec("DecidedCapacity", "Count", "decider", "capacity the decider asked for")
UTILIZATION = MetricSpec(
    "Utilization",
    "None",
    "collector",
    "load / (in-service capacity x capacity per instance), 0..1; feeds the SLO alarm of targets whose "
    "capacity per instance is learned or whose load is a metric-math expression",
)
SCALING_FAILURES = MetricSpec(
    "ScalingFailures", "Count", "executor", "ScalingFailed events published (after retries)", per_target=False
)
REJECTED_EVENTS = MetricSpec(
    "RejectedEvents",
    "Count",
    "every event-driven function",
    "invocations that ended in a validation error (an event not matching its contract, a rejected business "
    "event, or data failing validation while it was handled), counted at each attempt: after Lambda's retries "
    "the event waits in that function's dead-letter queue",
    per_target=False,
)

DECISIONS_UNRECORDED = MetricSpec(
    "DecisionsUnrecorded",
    "Count",
    "executor",
    "ScalingDecided events the executor refused because the decider never recorded them (forged or corrupt "
    "events on the bus); each is kept in the audit trail as a refusal row",
    per_target=False,
)

LEVEL_SHIFT = MetricSpec(
    "LevelShiftFollowed",
    "Count",
    "forecaster",
    "1 at each forecast that follows a lasting level shift beyond its first hour (models/regime.py: the load "
    "left the range of the week before and stayed out); not emitted otherwise, so it costs nothing for "
    "targets without shifts",
)

SLO_BUDGET = MetricSpec(
    "SloBudgetPercent",
    "Percent",
    "decider",
    "the target's SLO budget at each decision: the share of minutes it may be under-provisioned over its window "
    "(explicit, or auto: target tracking's on its own history); not emitted while no budget is known",
)
SLO_BUDGET_SPENT = MetricSpec(
    "SloBudgetSpentPercent",
    "Percent",
    "decider",
    "share of the window's minutes (decayed) the target was under-provisioned, at each decision",
)
SLO_BUDGET_MARGIN = MetricSpec(
    "SloBudgetMargin",
    "None",
    "decider",
    "the margin the budget puts on the load a forecast-mode decision prices (above 1 buys back an overspent "
    "budget, below 1 spends an underspent one)",
)

ALL_METRICS: tuple[MetricSpec, ...] = (
    FORECAST_P50,
    FORECAST_P90,
    FORECAST_ERROR,
    FORECAST_AGE,
    DECIDED_CAPACITY,
    UTILIZATION,
    SCALING_FAILURES,
    REJECTED_EVENTS,
    DECISIONS_UNRECORDED,
    LEVEL_SHIFT,
    SLO_BUDGET,
    SLO_BUDGET_SPENT,
    SLO_BUDGET_MARGIN,
)


def dimensions(target_id: str | None = None) -> dict[str, str]:
    """The dimensions a forescale metric carries: ``service`` and, per target, ``TargetId``."""
    dims = {"service": SERVICE}
    if target_id is not None:
        dims[TARGET_DIMENSION] = target_id
    return dims
