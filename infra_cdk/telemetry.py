"""Custom CloudWatch metrics the dashboard and alarms read: the contract the handlers must emit.

Every forescale metric lives in namespace :data:`NAMESPACE` with the single dimension ``service`` set to
:data:`SERVICE` (what Powertools Metrics adds when ``POWERTOOLS_SERVICE_NAME=forescale``). None names a
target: a custom metric costs the same for one datapoint a month as for one a minute, so one per target
per figure would make the bill grow with the fleet. What a target did is in the records forescale stores
(forecasts, decisions, target state), which the dashboard's custom widget renders; these metrics are
fleet aggregates (counts per round, distributions over the fleet's targets). Handlers emit them as
embedded metric format through Powertools, so no ``cloudwatch:PutMetricData`` permission is needed.

The stack passes ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` from here. The
handlers spell the same names in ``functions/services/common.py`` (the Lambda code asset does not ship
this package); ``tests/infra/test_telemetry.py`` keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "Forescale"
SERVICE = "forescale"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    emitted_by: str
    meaning: str


FORECAST_ERROR = MetricSpec(
    "ForecastErrorPercent",
    "Percent",
    "forecaster",
    "absolute percentage error of each target's p50 issued one decision interval ago against the observed "
    "load: one value per target forecast, so the statistics (mean, p90) are over the fleet",
)
FORECAST_AGE = MetricSpec(
    "ForecastAgeSeconds", "Seconds", "decider", "age of the oldest forecast a decider invocation used"
)
SLO_BREACHES = MetricSpec(
    "SloBreaches",
    "Count",
    "decider",
    "SLO breaches begun (each also an SloBreached event naming its target), per decider invocation",
)
TARGETS_OVER_SLO = MetricSpec(
    "TargetsOverSlo", "Count", "decider", "targets whose SLO rule is breached after the round, per invocation"
)
STALE_TARGETS = MetricSpec(
    "StaleTargets",
    "Count",
    "decider",
    "targets without a fresh load this round (the decider holds them), per invocation",
)
SLO_BUDGET_OVERSPENT = MetricSpec(
    "SloBudgetOverspent",
    "Count",
    "decider",
    "targets decided this round whose SLO budget is overspent (spend above budget over the window)",
)
FORECASTS_DEGRADED = MetricSpec(
    "ForecastsDegraded",
    "Count",
    "decider",
    "targets whose recent forecast error is above the threshold (each episode also a ForecastDegraded event "
    "naming its target), per invocation",
)
SCALING_FAILURES = MetricSpec("ScalingFailures", "Count", "executor", "ScalingFailed events published (after retries)")
REJECTED_EVENTS = MetricSpec(
    "RejectedEvents",
    "Count",
    "every event-driven function",
    "invocations that ended in a validation error (an event not matching its contract, a rejected business "
    "event, or data failing validation while it was handled), counted at each attempt: after Lambda's retries "
    "the event waits in that function's dead-letter queue",
)
DECISIONS_UNRECORDED = MetricSpec(
    "DecisionsUnrecorded",
    "Count",
    "executor",
    "ScalingDecided events the executor refused because the decider never recorded them (forged or corrupt "
    "events on the bus); each is kept in the audit trail as a refusal row",
)
LEVEL_SHIFT = MetricSpec(
    "LevelShiftFollowed",
    "Count",
    "forecaster",
    "forecasts that follow a lasting level shift beyond its first hour (models/regime.py: the load left the "
    "range of the week before and stayed out), per forecaster invocation; not emitted while there are none",
)

ALL_METRICS: tuple[MetricSpec, ...] = (
    FORECAST_ERROR,
    FORECAST_AGE,
    SLO_BREACHES,
    TARGETS_OVER_SLO,
    STALE_TARGETS,
    SLO_BUDGET_OVERSPENT,
    FORECASTS_DEGRADED,
    SCALING_FAILURES,
    REJECTED_EVENTS,
    DECISIONS_UNRECORDED,
    LEVEL_SHIFT,
)


def dimensions() -> dict[str, str]:
    """The dimensions every forescale metric carries: ``service`` only (no metric names a target)."""
    return {"service": SERVICE}
