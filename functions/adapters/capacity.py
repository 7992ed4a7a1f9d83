"""Capacity of what forescale scales: EC2 Auto Scaling groups and ECS services, behind one port.

:class:`AsgCapacity` (``autoscaling`` client) and :class:`EcsCapacity` (``ecs`` and
``application-autoscaling`` clients) both implement :class:`functions.ports.capacity.CapacityApi`, so the
executor treats both kinds alike; :class:`CapacityRouter` picks one by ``target.kind``. The twin is
:class:`forescale_tools.memory.InMemoryCapacity`.

Rules the adapters enforce themselves, identically for both kinds (moto checks none of them):

- ``set_desired`` refuses (``CapacityError`` code ``OutOfBounds``) a value outside the resource's
  current ``[min, max]`` or the target's configured ``[min_capacity, max_capacity]``; forescale never
  scales beyond bounds.
- ``set_bounds`` also moves desired into the new bounds at once. AWS does this itself for groups;
  for an ECS service the adapter updates the service rather than wait for Application Auto Scaling.
- An ECS service without a registered scalable target reports the target's configured bounds.
- ``describe`` says whether the group or service carries the consent tag ``forescale:enabled=true``
  (``CapacitySnapshot.consented``; an ECS service's tags come with ``include=["TAGS"]``).

AWS errors become :class:`CapacityError` with the AWS code and whether retrying may help; so do errors
below the API (connection reset or refused, read timeout), which are retryable: the request may or may
not have arrived, and the executor verifies every change by describing the resource again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as TransportConnectionError

from functions.domain.target import ScalingTarget
from functions.ports.capacity import CapacityApi, CapacityError, CapacitySnapshot, consents

if TYPE_CHECKING:
    from mypy_boto3_application_autoscaling.client import ApplicationAutoScalingClient
    from mypy_boto3_autoscaling.client import AutoScalingClient
    from mypy_boto3_ecs.client import ECSClient

ECS_DIMENSION: Final = "ecs:service:DesiredCount"

#: What a capacity call may raise that becomes a :class:`CapacityError`: AWS errors, and connection
#: resets, refusals and timeouts (after botocore's own retries, if the client has any).
CALL_ERRORS: Final = (ClientError, HTTPClientError, TransportConnectionError)


def check_desired(target: ScalingTarget, snapshot: CapacitySnapshot, desired: int) -> None:
    """Refuse a desired capacity outside the resource's or the configuration's bounds."""
    low = max(snapshot.min_capacity, target.min_capacity)
    high = min(snapshot.max_capacity, target.max_capacity)
    if not low <= desired <= high:
        raise CapacityError(
            "OutOfBounds",
            f"desired {desired} for {target.target_id} is outside [{low}, {high}] "
            f"(resource [{snapshot.min_capacity}, {snapshot.max_capacity}], "
            f"configured [{target.min_capacity}, {target.max_capacity}])",
            retryable=False,
        )


def check_bounds(min_capacity: int, max_capacity: int) -> None:
    if min_capacity < 0:
        raise CapacityError("InvalidBounds", f"min_capacity {min_capacity} is negative", retryable=False)
    if min_capacity > max_capacity:
        raise CapacityError(
            "InvalidBounds", f"min_capacity {min_capacity} exceeds max_capacity {max_capacity}", retryable=False
        )


def _wrap(error: Exception) -> CapacityError:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return CapacityError(str(details.get("Code", "Unknown")), str(details.get("Message", "")))
    return CapacityError(type(error).__name__, str(error), retryable=True)


def _require_kind(target: ScalingTarget, kind: str) -> None:
    if target.kind != kind:
        raise ValueError(f"kind: target {target.target_id} is {target.kind!r}, this adapter handles {kind!r}")


class AsgCapacity:
    """:class:`CapacityApi` for EC2 Auto Scaling groups."""

    def __init__(self, client: AutoScalingClient) -> None:
        self._client = client

    def describe(self, target: ScalingTarget) -> CapacitySnapshot:
        _require_kind(target, "asg")
        try:
            groups = self._client.describe_auto_scaling_groups(AutoScalingGroupNames=[target.resource_id])
        except CALL_ERRORS as error:
            raise _wrap(error) from error
        found = groups.get("AutoScalingGroups", [])
        if not found:
            raise CapacityError(
                "NotFound", f"Auto Scaling group {target.resource_id!r} does not exist", retryable=False
            )
        group = found[0]
        in_service = sum(1 for i in group.get("Instances", []) if i.get("LifecycleState") == "InService")
        return CapacitySnapshot(
            desired=int(group["DesiredCapacity"]),
            in_service=in_service,
            min_capacity=int(group["MinSize"]),
            max_capacity=int(group["MaxSize"]),
            consented=consents({t.get("Key", ""): t.get("Value", "") for t in group.get("Tags", [])}),
        )

    def set_desired(self, target: ScalingTarget, desired: int) -> None:
        check_desired(target, self.describe(target), desired)
        try:
            self._client.set_desired_capacity(
                AutoScalingGroupName=target.resource_id, DesiredCapacity=desired, HonorCooldown=False
            )
        except CALL_ERRORS as error:
            raise _wrap(error) from error

    def set_bounds(self, target: ScalingTarget, *, min_capacity: int, max_capacity: int) -> None:
        check_bounds(min_capacity, max_capacity)
        current = self.describe(target)
        try:
            self._client.update_auto_scaling_group(
                AutoScalingGroupName=target.resource_id,
                MinSize=min_capacity,
                MaxSize=max_capacity,
                DesiredCapacity=max(min_capacity, min(max_capacity, current.desired)),
            )
        except CALL_ERRORS as error:
            raise _wrap(error) from error


class EcsCapacity:
    """:class:`CapacityApi` for ECS services (desired count; bounds on the Application Auto Scaling target)."""

    def __init__(self, ecs: ECSClient, application_autoscaling: ApplicationAutoScalingClient) -> None:
        self._ecs = ecs
        self._aas = application_autoscaling

    def _service(self, target: ScalingTarget) -> tuple[int, int, bool]:
        """``(desired, running, consented)`` of the service."""
        try:
            response = self._ecs.describe_services(
                cluster=target.ecs_cluster or "", services=[target.ecs_service or ""], include=["TAGS"]
            )
        except CALL_ERRORS as error:
            raise _wrap(error) from error
        services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            raise CapacityError(
                "NotFound",
                f"ECS service {target.ecs_service!r} in cluster {target.ecs_cluster!r} does not exist",
                retryable=False,
            )
        tags = {t.get("key", ""): t.get("value", "") for t in services[0].get("tags", [])}
        return int(services[0].get("desiredCount", 0)), int(services[0].get("runningCount", 0)), consents(tags)

    def _bounds(self, target: ScalingTarget) -> tuple[int, int]:
        try:
            response = self._aas.describe_scalable_targets(
                ServiceNamespace="ecs", ResourceIds=[target.resource_id], ScalableDimension=ECS_DIMENSION
            )
        except CALL_ERRORS as error:
            raise _wrap(error) from error
        found = response.get("ScalableTargets", [])
        if not found:
            return target.min_capacity, target.max_capacity
        return int(found[0]["MinCapacity"]), int(found[0]["MaxCapacity"])

    def describe(self, target: ScalingTarget) -> CapacitySnapshot:
        _require_kind(target, "ecs")
        desired, running, consented = self._service(target)
        low, high = self._bounds(target)
        return CapacitySnapshot(
            desired=desired, in_service=running, min_capacity=low, max_capacity=high, consented=consented
        )

    def _update(self, target: ScalingTarget, desired: int) -> None:
        try:
            self._ecs.update_service(
                cluster=target.ecs_cluster or "", service=target.ecs_service or "", desiredCount=desired
            )
        except CALL_ERRORS as error:
            raise _wrap(error) from error

    def set_desired(self, target: ScalingTarget, desired: int) -> None:
        check_desired(target, self.describe(target), desired)
        self._update(target, desired)

    def set_bounds(self, target: ScalingTarget, *, min_capacity: int, max_capacity: int) -> None:
        check_bounds(min_capacity, max_capacity)
        current = self.describe(target)
        try:
            self._aas.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=target.resource_id,
                ScalableDimension=ECS_DIMENSION,
                MinCapacity=min_capacity,
                MaxCapacity=max_capacity,
            )
        except CALL_ERRORS as error:
            raise _wrap(error) from error
        inside = max(min_capacity, min(max_capacity, current.desired))
        if inside != current.desired:
            self._update(target, inside)


class CapacityRouter:
    """:class:`CapacityApi` for both kinds: delegates by ``target.kind``."""

    def __init__(self, *, asg: CapacityApi, ecs: CapacityApi) -> None:
        self._by_kind = {"asg": asg, "ecs": ecs}

    def describe(self, target: ScalingTarget) -> CapacitySnapshot:
        return self._by_kind[target.kind].describe(target)

    def set_desired(self, target: ScalingTarget, desired: int) -> None:
        self._by_kind[target.kind].set_desired(target, desired)

    def set_bounds(self, target: ScalingTarget, *, min_capacity: int, max_capacity: int) -> None:
        self._by_kind[target.kind].set_bounds(target, min_capacity=min_capacity, max_capacity=max_capacity)
