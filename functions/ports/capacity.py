"""The capacity port: what forescale scales (an Auto Scaling group, an ECS service), read and set alike.

Implemented by :mod:`functions.adapters.capacity` (AWS) and :class:`forescale_tools.memory.InMemoryCapacity`.
"""

from __future__ import annotations

from collections.abc import Mapping
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


#: The tag by which an operator consents to forescale changing a group or service (the executor's IAM
#: permission is conditioned on it too, ``infra_cdk.grants``).
CONSENT_TAG_KEY = "forescale:enabled"
CONSENT_TAG_VALUE = "true"


@dataclass(frozen=True)
class CapacitySnapshot:
    """Capacity of one resource now: what is asked for, what serves, and the resource's own bounds.

    ``consented``: the resource carries ``forescale:enabled=true``; the executor changes no other.
    """

    desired: int
    in_service: int
    min_capacity: int
    max_capacity: int
    consented: bool = False


def consents(tags: Mapping[str, str]) -> bool:
    return tags.get(CONSENT_TAG_KEY) == CONSENT_TAG_VALUE


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
