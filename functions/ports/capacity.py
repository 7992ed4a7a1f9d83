"""The capacity port: what forescale scales (an Auto Scaling group, an ECS service), read and set alike.

Implemented by :mod:`functions.adapters.capacity` (AWS) and :class:`forescale_tools.memory.InMemoryCapacity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from functions.domain.target import ScalingTarget
from functions.ports.errors import AdapterError

#: AWS error codes of a capacity call that trying again later may cure.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ScalingActivityInProgress",
        "ScalingActivityInProgressFault",
        "ResourceContention",
        "ResourceContentionFault",
        "ServerException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServiceException",
        "ConcurrentUpdateException",
    }
)


@dataclass(frozen=True)
class CapacitySnapshot:
    """Capacity of one resource now: what is asked for, what serves, and the resource's own bounds."""

    desired: int
    in_service: int
    min_capacity: int
    max_capacity: int


class CapacityError(AdapterError):
    """A capacity call failed; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, code: str, message: str, *, retryable: bool | None = None) -> None:
        self.code = code
        self.retryable = code in RETRYABLE_CODES if retryable is None else retryable
        super().__init__(f"{code}: {message}")


class CapacityApi(Protocol):
    def describe(self, target: ScalingTarget) -> CapacitySnapshot:
        """Current capacity; raises ``CapacityError`` (code ``NotFound`` when the resource does not exist)."""
        ...

    def set_desired(self, target: ScalingTarget, desired: int) -> None:
        """Ask for ``desired`` instances/tasks now (ASG: ``HonorCooldown=False``)."""
        ...

    def set_bounds(self, target: ScalingTarget, *, min_capacity: int, max_capacity: int) -> None:
        """Set the resource's min/max (ASG group sizes; ECS scalable target), moving desired inside them."""
        ...
