"""One frozen settings object per Lambda, built from the environment by the wiring module only.

A missing variable is reported by name; nothing else in forescale reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from functions.adapters.tables import AUDIT, BUSINESS_EVENTS, IDEMPOTENCY, MODEL_REGISTRY, STATE


class MissingSettingError(RuntimeError):
    """A required environment variable is not set."""


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise MissingSettingError(f"{name}: required environment variable is not set")
    return value


@dataclass(frozen=True)
class Settings:
    state_table: str
    audit_table: str
    business_events_table: str
    model_registry_table: str
    idempotency_table: str
    bucket: str
    event_bus: str
    #: the audit trail's bucket (Object Lock); None keeps it in ``bucket`` (in-memory and local runs)
    audit_bucket: str | None = None
    targets_key: str = "config/targets.json"
    endpoint_url: str | None = None
    batch_size: int = 50
    forecast_stale_seconds: int = 900
    #: ``key=value`` tag that opts Auto Scaling groups and ECS services in (None: configured targets only)
    discovery_tag: str | None = None
    collect_every_seconds: int = 60
    #: most targets one collector invocation handles; more are split over asynchronous self-invocations
    shard_size: int = 500
    #: days of history the forecaster reads for each forecast
    forecast_history_days: float = 8.0
    #: where the metric stream's Firehose writes in ``bucket`` (None: the collector asks GetMetricData alone)
    metric_stream_prefix: str | None = None
    #: a target's recent forecast error above this (percent) begins a ``ForecastDegraded`` episode (the decider)
    forecast_error_threshold_percent: float = 35.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            state_table=_require(env, STATE.env_var),
            audit_table=_require(env, AUDIT.env_var),
            business_events_table=_require(env, BUSINESS_EVENTS.env_var),
            model_registry_table=_require(env, MODEL_REGISTRY.env_var),
            idempotency_table=_require(env, IDEMPOTENCY.env_var),
            bucket=_require(env, "BUCKET_NAME"),
            event_bus=_require(env, "EVENT_BUS_NAME"),
            audit_bucket=_require(env, "AUDIT_BUCKET_NAME"),
            targets_key=env.get("TARGETS_CONFIG_KEY", "config/targets.json"),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            batch_size=int(env.get("FORESCALE_BATCH_SIZE", "50")),
            forecast_stale_seconds=int(env.get("FORECAST_STALE_SECONDS", "900")),
            discovery_tag=env.get("FORESCALE_DISCOVERY_TAG") or None,
            collect_every_seconds=int(env.get("FORESCALE_COLLECT_EVERY_SECONDS", "60")),
            shard_size=int(env.get("FORESCALE_SHARD_SIZE", "500")),
            forecast_history_days=float(env.get("FORESCALE_FORECAST_HISTORY_DAYS", "8")),
            metric_stream_prefix=_prefix(env, "FORESCALE_METRIC_STREAM_PREFIX"),
            forecast_error_threshold_percent=_percent(env, "FORESCALE_FORECAST_ERROR_THRESHOLD_PERCENT", 35.0),
        )


def _percent(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number (a percentage in (0, 1000])") from None
    if not 0 < value <= 1000:
        raise ValueError(f"{name}: {text!r} must be a percentage in (0, 1000]")
    return value


def _prefix(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not value.endswith("/"):
        raise ValueError(f"{name}: {value!r} must end with '/' (an S3 key prefix)")
    return value or None
