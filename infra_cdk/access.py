"""What each function may reach and what triggers it: the least-privilege table of the stack.

One entry per function of :data:`functions.catalog.FUNCTIONS`; synth fails if a function has no
entry (a new function must say what it needs before it can be deployed). The construct turns each
entry into IAM statements with explicit actions (never ``service:*``), environment variables, and
the trigger (schedule, rule built from a contract, or IAM-authenticated URL).
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
    ForecastDegraded,
    ForecastReady,
    MetricsCollected,
    ModelTrained,
    ScalingDecided,
    ScalingExecuted,
    ScalingFailed,
    SloBreached,
)
from functions.adapters import archive_keys as s3_layout
from functions.adapters.discovery import ENABLED_TAG
from functions.adapters.metric_stream import METRIC_STREAM_PREFIX
from functions.adapters.tables import ALL_TABLES, AUDIT, BUSINESS_EVENTS, IDEMPOTENCY, MODEL_REGISTRY, STATE
from functions.adapters.tracker_records import tracker_key
from functions.catalog import FUNCTIONS
from functions.routing import ROUTES
from functions.services.targets import operator_key
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
#: the decider's forecast record of each target, the one prefix whose objects are replaced in place
TRACKER = _top_prefix(tracker_key)
#: where the metric stream's Firehose writes (``infra_cdk.metric_stream``) and the collector reads
METRIC_STREAM = METRIC_STREAM_PREFIX
ALL_PREFIXES: tuple[str, ...] = (HISTORY, MODELS, AUDIT_PREFIX, TRACKER, METRIC_STREAM)
#: The object every function reads its scaling targets from (``functions.settings.Settings.targets_key``).
TARGETS_KEY: str = str(next(f.default for f in dataclasses.fields(Settings) if f.name == "targets_key"))

#: The operator's targets object next to it, which only the operator API writes (``functions.services.targets``).
OPERATOR_TARGETS_KEY: str = operator_key(TARGETS_KEY)
#: The DynamoDB actions of the item engine (``functions.adapters.dynamodb_items``) (conditional ``PutItem`` also
#: for updates; a put-once that finds its item taken reads it back with ``GetItem`` to tell a retry from a
#: conflict) ...
GET, PUT, QUERY = "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"
#: ... and what Powertools' idempotency layer needs on its table (its documented set: it reads a record back
#: when a conditional put returns none, and deletes the in-progress record when the execution raises).
IDEMPOTENCY_ACTIONS = (GET, PUT, "dynamodb:UpdateItem", "dynamodb:DeleteItem")
#: The variable ``functions.settings.Settings.from_env`` reads for each optional setting a deployment sets.
SETTING_VARIABLES: dict[str, str] = {
    "targets_key": "TARGETS_CONFIG_KEY",
    "discovery_tag": "FORESCALE_DISCOVERY_TAG",
    "forecast_stale_seconds": "FORECAST_STALE_SECONDS",
    "collect_every_seconds": "FORESCALE_COLLECT_EVERY_SECONDS",
    "metric_stream_prefix": "FORESCALE_METRIC_STREAM_PREFIX",
    "forecast_error_threshold_percent": "FORESCALE_FORECAST_ERROR_THRESHOLD_PERCENT",
}
#: How a function is invoked.
#: ``bus`` means an EventBridge rule per entry of :data:`functions.routing.ROUTES` naming the function;
#: ``dashboard``: the dashboard's custom widget, invoked synchronously with the viewer's own credentials
#: (``lambda:InvokeFunction``), so no trigger resource.
Trigger = Literal["collect_schedule", "train_schedule", "url", "bus", "dashboard"]
#: Triggers that invoke synchronously: no dead-letter queue, no asynchronous retries.
SYNCHRONOUS: frozenset[Trigger] = frozenset({"url", "dashboard"})


@dataclass(frozen=True)
class FunctionAccess:
    """What one function touches, as the services built for it in ``functions.wiring`` use it.

    ``tests/infra/test_permissions_match_calls.py`` runs every handler against moto's server with the
    synthesized environment and checks both ways: each call it makes is allowed, each grant is used.
    """

    trigger: Trigger
    #: table logical name -> the DynamoDB actions used on it (the Audit table: ``PutItem`` of new items only)
    tables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: prefixes listed (``s3:ListBucket`` on the bucket, with an ``s3:prefix`` condition)
    lists: tuple[str, ...] = ()
    #: prefixes whose objects are read (``s3:GetObject``)
    reads: tuple[str, ...] = ()
    #: prefixes written (``s3:PutObject``), create-only with ``If-None-Match``, except :data:`TRACKER`, whose
    #: objects are replaced with ``If-Match`` (the bucket policy refuses unconditional writes there). A function
    #: that can write a key twice (a retried shard or batch) also reads that prefix: the second write compares.
    writes: tuple[str, ...] = ()
    publishes: tuple[type[BusEvent], ...] = ()
    reads_load_metrics: bool = False
    #: ``cloudwatch:PutMetricData``, only into the forescale namespace (most metrics go out as EMF logs)
    puts_metrics: bool = False
    #: reads the capacity of groups and services (``Describe*``)
    describes_targets: bool = False
    #: looks its targets up in the catalogue (``functions.services.targets``: the targets object, and with
    #: tag discovery on, tagged groups and services). Every service does, so that a target the collector
    #: discovers is known to every function its events reach.
    uses_catalog: bool = True
    #: optional settings (fields of ``functions.settings.Settings``) the code reads whose value the
    #: deployment decides, besides the catalogue's (targets key, discovery tag); see :data:`SETTING_VARIABLES`
    settings: tuple[str, ...] = ()
    scales_targets: bool = False
    #: writes the operator's targets object (:data:`OPERATOR_TARGETS_KEY`) and the kill switch: the operator API
    changes_targets: bool = False
    #: a round over more work than one invocation takes fans out to asynchronous self-invocations
    #: (collector: shards of targets; trainer: one batch per metric period and size)
    invokes_itself: bool = False
    #: How long a failed asynchronous event is retried before it goes to the dead-letter queue:
    #: short where a late action would be wrong, long where the work stays valid.
    max_event_age_minutes: int = 15


FUNCTION_ACCESS: dict[str, FunctionAccess] = {
    "collector": FunctionAccess(
        trigger="collect_schedule",
        # the metric stream's objects: targets' load without GetMetricData (functions.adapters.metric_stream)
        lists=(HISTORY, METRIC_STREAM),
        reads=(HISTORY, METRIC_STREAM),
        writes=(HISTORY,),
        publishes=(MetricsCollected,),
        reads_load_metrics=True,
        describes_targets=True,
        invokes_itself=True,
        settings=("collect_every_seconds", "metric_stream_prefix"),
        max_event_age_minutes=5,
    ),
    "forecaster": FunctionAccess(
        trigger="bus",
        tables={
            STATE.logical_name: (GET, PUT),
            MODEL_REGISTRY.logical_name: (GET,),
            BUSINESS_EVENTS.logical_name: (GET, QUERY),
        },
        lists=(HISTORY,),
        reads=(HISTORY, MODELS),
        writes=(AUDIT_PREFIX,),
        publishes=(ForecastReady, AnomalyDetected),
        max_event_age_minutes=10,
    ),
    "decider": FunctionAccess(
        trigger="bus",
        tables={STATE.logical_name: (GET, PUT), AUDIT.logical_name: (PUT,), BUSINESS_EVENTS.logical_name: (QUERY,)},
        # the loads since its forecast record's pending forecasts (functions.services.decider), and the record
        # itself (functions.adapters.tracker_records; listing it lets S3 answer 404, not 403, for a new target)
        lists=(HISTORY, TRACKER),
        reads=(HISTORY, TRACKER),
        writes=(AUDIT_PREFIX, TRACKER),
        publishes=(ScalingDecided, SloBreached, ForecastDegraded),
        settings=("forecast_stale_seconds", "forecast_error_threshold_percent"),
        max_event_age_minutes=10,
    ),
    "executor": FunctionAccess(
        trigger="bus",
        tables={
            STATE.logical_name: (GET, PUT),
            # GetItem: the decision as the decider recorded it; Query: the newer one a refusal names
            AUDIT.logical_name: (GET, PUT, QUERY),
            IDEMPOTENCY.logical_name: IDEMPOTENCY_ACTIONS,
        },
        writes=(AUDIT_PREFIX,),
        publishes=(ScalingExecuted, ScalingFailed),
        describes_targets=True,
        scales_targets=True,
        max_event_age_minutes=10,
    ),
    "intake": FunctionAccess(
        trigger="bus",
        tables={BUSINESS_EVENTS.logical_name: (GET, PUT)},
        max_event_age_minutes=360,
    ),
    "alarm_responder": FunctionAccess(
        trigger="bus",  # SloBreached, which the decider publishes
        tables={STATE.logical_name: (GET, PUT), AUDIT.logical_name: (PUT,)},
        writes=(AUDIT_PREFIX,),
        publishes=(ScalingDecided,),
        describes_targets=True,
        max_event_age_minutes=5,
    ),
    "trainer": FunctionAccess(
        trigger="train_schedule",
        tables={
            # State: the capacity per instance it learns for targets that say "learn"
            STATE.logical_name: (GET, PUT),
            MODEL_REGISTRY.logical_name: (GET, PUT),
            BUSINESS_EVENTS.logical_name: (GET, PUT, QUERY),
        },
        lists=(HISTORY,),
        reads=(HISTORY, MODELS),
        writes=(MODELS,),
        publishes=(ModelTrained,),
        puts_metrics=True,
        invokes_itself=True,
        max_event_age_minutes=360,
    ),
    "api": FunctionAccess(
        trigger="url",
        tables={
            # PutItem: the kill switch (PUT /kill-switch)
            STATE.logical_name: (GET, PUT),
            AUDIT.logical_name: (QUERY,),
            BUSINESS_EVENTS.logical_name: (QUERY,),
        },
        publishes=(BusinessEvent,),
        changes_targets=True,
    ),
    "widget": FunctionAccess(
        trigger="dashboard",
        # the target state (SLO rule, budget), the latest forecast and the decisions; the load history and
        # the audit trail's forecast and decision rows
        tables={STATE.logical_name: (GET,), AUDIT.logical_name: (QUERY,)},
        lists=(HISTORY, AUDIT_PREFIX),
        reads=(HISTORY, AUDIT_PREFIX),
    ),
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
    tables = {spec.logical_name for spec in ALL_TABLES}
    for name, access in FUNCTION_ACCESS.items():
        for prefix in (*access.lists, *access.reads, *access.writes):
            if prefix not in ALL_PREFIXES:
                raise ValueError(f"{name}: unknown bucket prefix {prefix!r}")
        for table, actions in access.tables.items():
            if table not in tables:
                raise ValueError(f"{name}: unknown table {table!r}")
            if not actions or any(not a.startswith("dynamodb:") or "*" in a for a in actions):
                raise ValueError(f"{name}: table {table}: give explicit dynamodb actions, not {actions!r}")
        unknown_settings = sorted(set(access.settings) - SETTING_VARIABLES.keys())
        if unknown_settings:
            raise ValueError(f"{name}: settings {unknown_settings} have no entry in SETTING_VARIABLES")
        if (access.trigger == "bus") != (name in routed):
            raise ValueError(f"{name}: trigger 'bus' and an entry in functions.routing.ROUTES go together")
