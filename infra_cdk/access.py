"""What each function may reach and what triggers it: the least-privilege table of the stack.

One entry per function of :data:`functions.catalog.FUNCTIONS`; synth fails if a function has no
entry (a new function must say what it needs before it can be deployed). The construct turns each
entry into IAM statements with explicit actions (never ``service:*``), environment variables, and
the trigger (schedule, rule built from a contract, alarm, or IAM-authenticated URL).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
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
from functions.adapters import s3 as s3_layout
from functions.adapters.discovery import ENABLED_TAG
from functions.adapters.tables import AUDIT, BUSINESS_EVENTS, IDEMPOTENCY, MODEL_REGISTRY, STATE
from functions.catalog import FUNCTIONS
from functions.routing import ROUTES
from functions.settings import Settings


def _top_prefix(layout: Callable[[str], str]) -> str:
    """``history/target=x/`` -> ``history/``."""
    return layout("x").split("/", 1)[0] + "/"


#: Tag that opts an Auto Scaling group or ECS service into forescale (discovery and executor IAM).
ENABLED_TAG_KEY = ENABLED_TAG
ENABLED_TAG_VALUE = "true"

#: Top-level object prefixes of the bucket, taken from the S3 adapter's key layout (the adapter
#: spells them; IAM here limits each function to the prefixes it needs).
HISTORY = _top_prefix(s3_layout.history_prefix)
MODELS = _top_prefix(lambda target_id: s3_layout.model_prefix(target_id, "v"))
AUDIT_PREFIX = _top_prefix(s3_layout.audit_prefix)
ALL_PREFIXES: tuple[str, ...] = (HISTORY, MODELS, AUDIT_PREFIX)
#: The object every function reads its scaling targets from (``functions.settings.Settings.targets_key``).
TARGETS_KEY: str = str(next(f.default for f in dataclasses.fields(Settings) if f.name == "targets_key"))

#: ``read``: get/query; ``append``: put (audit: new items only, by condition); ``write``: read and put;
#: ``idempotency``: what Powertools' idempotency records need.
TableAccess = Literal["read", "append", "write", "idempotency"]
#: How a function is invoked.
#: ``bus`` means an EventBridge rule per entry of :data:`functions.routing.ROUTES` naming the function.
Trigger = Literal["collect_schedule", "train_schedule", "alarm", "url", "bus"]


@dataclass(frozen=True)
class FunctionAccess:
    """What one function touches, as the services built for it in ``functions.wiring`` use it."""

    trigger: Trigger
    tables: Mapping[str, TableAccess] = field(default_factory=dict)
    #: prefixes listed and read (``s3:ListBucket`` on the prefix, ``s3:GetObject``)
    reads: tuple[str, ...] = ()
    #: prefixes written (``s3:PutObject``; ``s3:GetObject`` too, because a retried write that finds the key
    #: taken compares contents instead of overwriting)
    writes: tuple[str, ...] = ()
    publishes: tuple[type[BusEvent], ...] = ()
    reads_load_metrics: bool = False
    #: ``cloudwatch:PutMetricData``, only into the forescale namespace (most metrics go out as EMF logs)
    puts_metrics: bool = False
    describes_targets: bool = False
    discovers_targets: bool = False
    scales_targets: bool = False
    #: a collection round over more targets than one shard fans out to asynchronous self-invocations
    invokes_itself: bool = False
    #: How long a failed asynchronous event is retried before it goes to the dead-letter queue:
    #: short where a late action would be wrong, long where the work stays valid.
    max_event_age_minutes: int = 15


FUNCTION_ACCESS: dict[str, FunctionAccess] = {
    "collector": FunctionAccess(
        trigger="collect_schedule",
        reads=(HISTORY,),
        writes=(HISTORY,),
        publishes=(MetricsCollected,),
        reads_load_metrics=True,
        describes_targets=True,
        discovers_targets=True,
        invokes_itself=True,
        max_event_age_minutes=5,
    ),
    "forecaster": FunctionAccess(
        trigger="bus",
        tables={
            STATE.logical_name: "write",
            MODEL_REGISTRY.logical_name: "read",
            BUSINESS_EVENTS.logical_name: "read",
        },
        reads=(HISTORY, MODELS),
        writes=(AUDIT_PREFIX,),
        publishes=(ForecastReady, AnomalyDetected),
        max_event_age_minutes=10,
    ),
    "decider": FunctionAccess(
        trigger="bus",
        tables={STATE.logical_name: "write", AUDIT.logical_name: "append", BUSINESS_EVENTS.logical_name: "read"},
        writes=(AUDIT_PREFIX,),
        publishes=(ScalingDecided,),
        max_event_age_minutes=10,
    ),
    "executor": FunctionAccess(
        trigger="bus",
        tables={
            STATE.logical_name: "write",
            AUDIT.logical_name: "append",
            IDEMPOTENCY.logical_name: "idempotency",
        },
        writes=(AUDIT_PREFIX,),
        publishes=(ScalingExecuted, ScalingFailed),
        describes_targets=True,
        scales_targets=True,
        max_event_age_minutes=10,
    ),
    "intake": FunctionAccess(
        trigger="bus",
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
        tables={MODEL_REGISTRY.logical_name: "write", BUSINESS_EVENTS.logical_name: "write"},
        reads=(HISTORY, MODELS),
        writes=(MODELS,),
        publishes=(ModelTrained,),
        puts_metrics=True,
        max_event_age_minutes=360,
    ),
    "api": FunctionAccess(
        trigger="url",
        tables={
            STATE.logical_name: "read",
            AUDIT.logical_name: "read",
            BUSINESS_EVENTS.logical_name: "read",
        },
        publishes=(BusinessEvent,),
    ),
}

#: The item engine of ``functions.adapters.dynamodb`` uses GetItem, PutItem (conditional, also for
#: updates) and Query only; Powertools' idempotency layer also updates and deletes its records.
TABLE_ACTIONS: dict[TableAccess, tuple[str, ...]] = {
    "read": ("dynamodb:GetItem", "dynamodb:Query"),
    "append": ("dynamodb:PutItem",),
    "write": ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"),
    "idempotency": ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
}


def check_access_table() -> None:
    """Every catalogued function has exactly one access entry, and only known prefixes are used."""
    names = {spec.name for spec in FUNCTIONS}
    missing = sorted(names - FUNCTION_ACCESS.keys())
    unknown = sorted(FUNCTION_ACCESS.keys() - names)
    if missing:
        raise ValueError(f"functions: {missing} have no entry in infra_cdk.access.FUNCTION_ACCESS")
    if unknown:
        raise ValueError(f"functions: FUNCTION_ACCESS names {unknown}, which functions.catalog does not define")
    routed = {route.function for route in ROUTES}
    for name, access in FUNCTION_ACCESS.items():
        for prefix in (*access.reads, *access.writes):
            if prefix not in ALL_PREFIXES:
                raise ValueError(f"{name}: unknown bucket prefix {prefix!r}")
        if (access.trigger == "bus") != (name in routed):
            raise ValueError(f"{name}: trigger 'bus' and an entry in functions.routing.ROUTES go together")
