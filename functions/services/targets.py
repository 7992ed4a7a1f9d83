"""Which targets forescale manages: the configuration object in S3, plus tag discovery.

At run time the targets are

1. ``s3://<bucket>/<TARGETS_CONFIG_KEY>`` (default ``config/targets.json``): a JSON list of
   :class:`~functions.domain.target.ScalingTarget` objects, written by the CDK deployment from the
   validated configuration. A malformed file is an error naming the entry and the field (never
   half-read); a missing file is an empty list.
2. when ``FORESCALE_DISCOVERY_TAG`` is set (``forescale:enabled=true``), every Auto Scaling group and
   ECS service carrying that tag, configured by its ``forescale:<field>`` tags
   (:mod:`functions.adapters.discovery`). A configured target wins over a discovered one with the same
   id or the same resource.

The list is cached for ``ttl_seconds`` per container (a warm Lambda re-reads it every few minutes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from functions.domain.clock import Clock
from functions.domain.target import ScalingTarget, parse_targets
from functions.ports.archive import ObjectStore
from functions.ports.discovery import TargetDiscovery
from functions.ports.errors import NotFoundError

#: 10,000 targets of ~600 bytes each fit; a larger object is refused before it is parsed.
MAX_TARGETS_BYTES = 16 * 1024 * 1024


class UnknownTargetError(LookupError):
    """A target id that neither the configuration nor discovery knows."""

    def __init__(self, target_id: str) -> None:
        self.target_id = target_id
        super().__init__(f"target_id: {target_id!r} is not a configured or discovered target")


@dataclass
class TargetCatalog:
    objects: ObjectStore
    key: str
    clock: Clock
    discovery: TargetDiscovery | None = None
    ttl_seconds: int = 300
    #: Discovered resources that could not be turned into targets, from the last refresh.
    problems: list[str] = field(default_factory=list)
    _cached: list[ScalingTarget] | None = field(default=None, init=False)
    _loaded_at: datetime | None = field(default=None, init=False)

    def _configured(self) -> list[ScalingTarget]:
        try:
            body = self.objects.get(self.key)
        except NotFoundError:
            return []
        if len(body) > MAX_TARGETS_BYTES:
            raise ValueError(f"{self.key}: {len(body)} bytes, over the {MAX_TARGETS_BYTES} byte limit")
        try:
            raw = json.loads(body)
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.key}: not JSON ({error.msg} at line {error.lineno})") from error
        except UnicodeDecodeError as error:
            raise ValueError(f"{self.key}: not UTF-8 text (byte {error.start})") from error
        return parse_targets(raw)

    def refresh(self) -> list[ScalingTarget]:
        configured = self._configured()
        targets = {t.target_id: t for t in configured}
        resources = {(t.kind, t.resource_id) for t in configured}
        self.problems = []
        if self.discovery is not None:
            found = self.discovery.discover()
            self.problems = list(found.problems)
            for target in found.targets:
                if target.target_id in targets or (target.kind, target.resource_id) in resources:
                    continue
                targets[target.target_id] = target
                resources.add((target.kind, target.resource_id))
        self._cached = sorted(targets.values(), key=lambda t: t.target_id)
        self._loaded_at = self.clock.now()
        return list(self._cached)

    def targets(self) -> list[ScalingTarget]:
        now = self.clock.now()
        if (
            self._cached is None
            or self._loaded_at is None
            or abs((now - self._loaded_at).total_seconds()) >= self.ttl_seconds
        ):
            return self.refresh()
        return list(self._cached)

    def find(self, target_id: str) -> ScalingTarget | None:
        for target in self.targets():
            if target.target_id == target_id:
                return target
        return None

    def get(self, target_id: str) -> ScalingTarget:
        target = self.find(target_id)
        if target is None:
            raise UnknownTargetError(target_id)
        return target
