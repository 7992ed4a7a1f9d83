"""The two deployment units: stateful (kept on removal) and stateless (replaceable at will).

Both are environment-agnostic: no look-ups, so they synthesize with no credentials and no network.
The stateless stack imports the stateful stack's exports by name (see :mod:`infra_cdk.storage`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from events.contracts import Mode
from functions.domain.target import ScalingTarget
from infra_cdk.forescale import Cadence, Forescale
from infra_cdk.storage import DEFAULT_AUDIT_RETENTION_DAYS, ForescaleStorage, StorageRef


class ForescaleStatefulStack(Stack):
    """Tables, bucket and bus: retained when the stack is deleted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        business_event_accounts: Sequence[str] = (),
        audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description="forescale: tables, buckets and event bus (stateful)", **kwargs
        )
        self.storage = ForescaleStorage(
            self,
            "Storage",
            business_event_accounts=business_event_accounts,
            audit_retention_days=audit_retention_days,
        )
        self.storage.export(self.export_prefix)

    @property
    def export_prefix(self) -> str:
        return self.stack_name


class ForescaleStatelessStack(Stack):
    """Functions, schedules, rules, queues, alarms, dashboard and operator API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stateful: ForescaleStatefulStack,
        targets: Sequence[ScalingTarget],
        cadence: Cadence | None = None,
        modes: Mapping[str, Mode] | None = None,
        tag_discovery: bool = True,
        forecast_error_threshold_percent: float = 35.0,
        layers_dir: Path | None = None,
        alarm_email: str | None = None,
        metric_stream: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description="forescale: pipeline functions and monitoring", **kwargs)
        self.add_stack_dependency(stateful)
        self.forescale = Forescale(
            self,
            "Forescale",
            targets=targets,
            cadence=cadence,
            modes=modes,
            storage=StorageRef.imported(stateful.export_prefix),
            tag_discovery=tag_discovery,
            forecast_error_threshold_percent=forecast_error_threshold_percent,
            layers_dir=layers_dir,
            metric_stream=metric_stream,
        )
        if alarm_email:
            self.forescale.notification_topic.add_subscription(subscriptions.EmailSubscription(alarm_email))


__all__ = ["ForescaleStatefulStack", "ForescaleStatelessStack", "ForescaleStorage"]
