"""The discovery port: which targets exist, found from outside the configuration (tags), with what could not be used.

Implemented by :class:`functions.adapters.discovery.AwsTagDiscovery` and ``StaticDiscovery``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from functions.domain.target import ScalingTarget


@dataclass(frozen=True)
class Discovered:
    """Targets built from tagged resources, and the resources that could not be used (with why)."""

    targets: list[ScalingTarget] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class TargetDiscovery(Protocol):
    def discover(self) -> Discovered: ...
