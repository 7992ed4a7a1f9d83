"""What each function may reach and what triggers it: the least-privilege table of the stack.

One entry per function of :data:`functions.catalog.FUNCTIONS`; synth fails if a function has no
entry (a new function must say what it needs before it can be deployed). The construct turns each
entry into IAM statements with explicit actions (never ``service:*``), environment variables, and
the trigger (schedule, rule built from a contract, alarm, or IAM-authenticated URL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from events.base import BusEvent
from events.contracts import (
    AnomalyDetected,
    BusinessEvent,
    ForecastReady,
    MetricsCollected,
    ModelTrained,
    ScalingDecided,
    ScalingExecuted,
    ScalingFailed,
)
from functions.adapters.tables import AUDIT, BUSINESS_EVENTS, IDEMPOTENCY, MODEL_REGISTRY, STATE
from functions.catalog import FUNCTIONS

#: Tag that opts an Auto Scaling group or ECS service into forescale (discovery and executor IAM).
ENABLED_TAG_KEY = "forescale:enabled"
ENABLED_TAG_VALUE = "true"

#: Object key prefixes in the bucket. Each function is told the prefixes it may use through
#: ``FORESCALE_PREFIX_<NAME>`` environment variables and gets IAM access to those only.
HISTORY = "history/"
MODELS = "models/"
FORECASTS = "forecasts/"
AUDIT_PREFIX = "audit/"
BACKTESTS = "backtests/"
ALL_PREFIXES: tuple[str, ...] = (HISTORY, MODELS, FORECASTS, AUDIT_PREFIX, BACKTESTS)

#: ``read``: get/query; ``append``: put new items only (audit); ``write``: read, put, update, delete.
TableAccess = Literal["read", "append", "write"]
#: How a function is invoked.
Trigger = Literal["collect_schedule", "train_schedule", "alarm", "url"] | type[BusEvent]


@dataclass(frozen=True)
class FunctionAccess:
    trigger: Trigger
    tables: Mapping[str, TableAccess] = field(default_factory=dict)
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    publishes: tuple[type[BusEvent], ...] = ()
    reads_load_metrics: bool = False
    describes_targets: bool = False
    discovers_targets: bool = False
    scales_targets: bool = False
    #: How long a failed asynchronous event is retried before it goes to the dead-letter queue:
    #: short where a late action would be wrong, long where the work stays valid.
    max_event_age_minutes: int = 15


FUNCTION_ACCESS: dict[str, FunctionAccess] = {
    "collector": FunctionAccess(
        trigger="collect_schedule",
        tables={STATE.logical_name: "write"},
        reads=(HISTORY,),
        writes=(HISTORY,),
        publishes=(MetricsCollected,),
        reads_load_metrics=True,
        describes_targets=True,
        discovers_targets=True,
        max_event_age_minutes=5,
    ),
    "forecaster": FunctionAccess(
        trigger=MetricsCollected,
        tables={
            STATE.logical_name: "write",
            MODEL_REGISTRY.logical_name: "read",
            BUSINESS_EVENTS.logical_name: "read",
        },
        reads=(HISTORY, MODELS),
        writes=(FORECASTS,),
        publishes=(ForecastReady, AnomalyDetected),
        max_event_age_minutes=10,
    ),
    "decider": FunctionAccess(
        trigger=ForecastReady,
        tables={STATE.logical_name: "write", AUDIT.logical_name: "append", BUSINESS_EVENTS.logical_name: "read"},
        reads=(FORECASTS,),
        writes=(AUDIT_PREFIX,),
        publishes=(ScalingDecided,),
        max_event_age_minutes=10,
    ),
    "executor": FunctionAccess(
        trigger=ScalingDecided,
        tables={STATE.logical_name: "write", AUDIT.logical_name: "append", IDEMPOTENCY.logical_name: "write"},
        writes=(AUDIT_PREFIX,),
        publishes=(ScalingExecuted, ScalingFailed),
        describes_targets=True,
        scales_targets=True,
        max_event_age_minutes=10,
    ),
    "intake": FunctionAccess(
        trigger=BusinessEvent,
        tables={BUSINESS_EVENTS.logical_name: "write"},
        max_event_age_minutes=360,
    ),
    "alarm_responder": FunctionAccess(
        trigger="alarm",
        tables={STATE.logical_name: "write", AUDIT.logical_name: "append"},
        writes=(AUDIT_PREFIX,),
        publishes=(ScalingDecided,),
        describes_targets=True,
        max_event_age_minutes=5,
    ),
    "trainer": FunctionAccess(
        trigger="train_schedule",
        tables={
            MODEL_REGISTRY.logical_name: "write",
            BUSINESS_EVENTS.logical_name: "write",
            STATE.logical_name: "read",
        },
        reads=(HISTORY, MODELS),
        writes=(MODELS, BACKTESTS),
        publishes=(ModelTrained,),
        max_event_age_minutes=360,
    ),
    "api": FunctionAccess(
        trigger="url",
        tables={
            STATE.logical_name: "write",
            AUDIT.logical_name: "read",
            BUSINESS_EVENTS.logical_name: "read",
            MODEL_REGISTRY.logical_name: "read",
        },
        reads=(FORECASTS, AUDIT_PREFIX, BACKTESTS),
    ),
}

TABLE_ACTIONS: dict[TableAccess, tuple[str, ...]] = {
    "read": ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"),
    "append": ("dynamodb:PutItem", "dynamodb:DescribeTable"),
    "write": (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:DescribeTable",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
    ),
}


def prefix_env_var(prefix: str) -> str:
    """``history/`` -> ``FORESCALE_PREFIX_HISTORY``."""
    return "FORESCALE_PREFIX_" + prefix.strip("/").upper()


def check_access_table() -> None:
    """Every catalogued function has exactly one access entry, and only known prefixes are used."""
    names = {spec.name for spec in FUNCTIONS}
    missing = sorted(names - FUNCTION_ACCESS.keys())
    unknown = sorted(FUNCTION_ACCESS.keys() - names)
    if missing:
        raise ValueError(f"functions: {missing} have no entry in infra_cdk.access.FUNCTION_ACCESS")
    if unknown:
        raise ValueError(f"functions: FUNCTION_ACCESS names {unknown}, which functions.catalog does not define")
    for name, access in FUNCTION_ACCESS.items():
        for prefix in (*access.reads, *access.writes):
            if prefix not in ALL_PREFIXES:
                raise ValueError(f"{name}: unknown bucket prefix {prefix!r}")
