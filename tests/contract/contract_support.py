"""Helpers shared by the contract suites (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions.domain.target import ScalingTarget

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def asg_target(
    name: str, *, min_capacity: int = 1, max_capacity: int = 10, target_id: str | None = None
) -> ScalingTarget:
    return ScalingTarget.model_validate(
        {
            "target_id": target_id or name,
            "kind": "asg",
            "asg_name": name,
            "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount", "dimensions": {"LoadBalancer": "lb"}},
            "capacity_per_instance": 100.0,
            "min_capacity": min_capacity,
            "max_capacity": max_capacity,
        }
    )


def ecs_target(cluster: str, service: str, *, min_capacity: int = 1, max_capacity: int = 10) -> ScalingTarget:
    return ScalingTarget.model_validate(
        {
            "target_id": f"{cluster}.{service}",
            "kind": "ecs",
            "ecs_cluster": cluster,
            "ecs_service": service,
            "metric": {"namespace": "AWS/ECS", "name": "CPUUtilization", "statistic": "Average"},
            "capacity_per_instance": 50.0,
            "min_capacity": min_capacity,
            "max_capacity": max_capacity,
        }
    )


@contextmanager
def count_calls(client: Any, operation: str) -> Iterator[list[int]]:
    """Count the real client's calls of ``operation`` (a botocore event hook; observes, changes nothing)."""
    calls: list[int] = []
    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"

    def hook(**_: Any) -> None:
        calls.append(1)

    client.meta.events.register(event, hook)
    try:
        yield calls
    finally:
        client.meta.events.unregister(event, hook)


@dataclass
class FaultInjectingEvents:
    """Wraps a real ``events`` client: entries told to fail are answered as failed and not sent.

    moto's server cannot produce the transient per-entry failures (``InternalFailure``,
    ``ThrottlingException``) that real EventBridge does; everything else goes to moto for real.
    """

    inner: Any
    failures: list[tuple[str, str]] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)

    def fail_next(self, count: int, code: str = "InternalFailure", message: str = "injected failure") -> None:
        self.failures.extend([(code, message)] * count)

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Entries))
        outcome: list[dict[str, Any] | None] = []
        forward: list[dict[str, Any]] = []
        for entry in Entries:
            if self.failures:
                code, message = self.failures.pop(0)
                outcome.append({"ErrorCode": code, "ErrorMessage": message})
            else:
                outcome.append(None)
                forward.append(entry)
        sent = iter(self.inner.put_events(Entries=forward)["Entries"] if forward else [])
        results = [result if result is not None else next(sent) for result in outcome]
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}
