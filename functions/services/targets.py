"""Which targets forescale manages: the deployed configuration, the operator's, and tag discovery.

At run time the targets come from three sources, later ones winning:

1. tag discovery, when ``FORESCALE_DISCOVERY_TAG`` is set (``forescale:enabled=true``): every Auto Scaling
   group and ECS service carrying that tag, configured by its ``forescale:<field>`` tags
   (:mod:`functions.adapters.discovery`);
2. ``s3://<bucket>/<TARGETS_CONFIG_KEY>`` (default ``config/targets.json``): a JSON list of
   :class:`~functions.domain.target.ScalingTarget` objects, written by every deploy from ``cdk.json``;
3. the operator's object next to it (``config/operator-targets.json``, :class:`OperatorTargets`), written only
   by the operator API (``forescale targets``) and never by a deploy, so a deploy cannot silently undo an
   operator's change: its ``targets`` add or replace targets (by id; one that manages the same group or
   service replaces that one too), its ``removed`` ids are dropped whatever their source, and its ``modes``
   set the mode of a target from any source.

A configured target wins over a discovered one with the same id or the same resource. A malformed object
is an error naming the object, the entry and the field (never half-read); a missing one is empty.

The configuration objects are re-read every ``ttl_seconds`` per container (:data:`CATALOG_TTL_SECONDS`, half
the shortest collection cadence), so that a change reaches every function within one round; tag discovery
is re-run every :data:`DISCOVERY_TTL_SECONDS` (a tag change takes effect within five minutes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.base import TargetId
from events.contracts import Mode
from events.errors import ContractError
from functions.domain.capacity_model import MIN_SAMPLES, CapacityEstimate, resolve_capacity
from functions.domain.clock import Clock
from functions.domain.target import ScalingTarget, parse_targets
from functions.ports.archive import ObjectStore
from functions.ports.discovery import TargetDiscovery
from functions.ports.errors import NotFoundError
from functions.ports.operator_config import OperatorConfigStore
from functions.ports.state import StateStore

#: 10,000 targets of ~600 bytes each fit; a larger object is refused before it is parsed.
MAX_TARGETS_BYTES = 16 * 1024 * 1024
#: How long a warm container keeps the list: half the shortest collection cadence (1 minute), so that each
#: round finds a function's cached list at least this old (rounds are a cadence apart, give or take the
#: scheduler's jitter) and re-reads it: a change reaches every function within one round. An unchanged
#: object is not parsed again (5,000 targets: 3.8 MB, 0.39 s to validate).
CATALOG_TTL_SECONDS = 30
#: How long tag discovery's answer is kept: it pages through the account's groups and tagged services
#: (100 groups a page), which every container re-reading twice a minute would turn into a throttling risk.
DISCOVERY_TTL_SECONDS = 300
OPERATOR_FILE = "operator-targets.json"

Source = Literal["discovered", "deploy", "operator"]


def operator_key(targets_key: str) -> str:
    """The operator's object, next to the deployed one: ``config/targets.json`` -> ``config/operator-targets.json``."""
    return str(PurePosixPath(targets_key).with_name(OPERATOR_FILE))


class UnknownTargetError(LookupError):
    """A target id that neither the configuration nor discovery knows."""

    def __init__(self, target_id: str) -> None:
        self.target_id = target_id
        super().__init__(f"target_id: {target_id!r} is not a configured or discovered target")


class OperatorTargets(BaseModel):
    """The operator's object (``config/operator-targets.json``): changes made without a deploy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: list[ScalingTarget] = Field(default_factory=list, description="Targets added or replaced by id.")
    modes: dict[TargetId, Mode] = Field(default_factory=dict, description="Mode of a target from any source.")
    removed: list[TargetId] = Field(default_factory=list, description="Ids dropped whatever their source.")
    changed_at: datetime | None = None
    changed_by: str | None = Field(default=None, max_length=2048)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True, indent=1).encode()


def _json_object(body: bytes, key: str) -> object:
    """A configuration object's JSON, refused (``ValueError`` naming ``key``) when too large or not JSON text."""
    if len(body) > MAX_TARGETS_BYTES:
        raise ValueError(f"{key}: {len(body)} bytes, over the {MAX_TARGETS_BYTES} byte limit")
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise ValueError(f"{key}: not JSON ({error.msg} at line {error.lineno})") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{key}: not UTF-8 text (byte {error.start})") from error


def parse_operator_targets(body: bytes, key: str) -> OperatorTargets:
    """The operator's object; raises ``ValueError`` naming the object, the entry and the field."""
    if len(body) <= MAX_TARGETS_BYTES and not body.strip():
        return OperatorTargets()
    raw = _json_object(body, key)
    try:
        parsed = OperatorTargets.model_validate(raw)
    except ValidationError as exc:
        raise ContractError(key, exc) from exc
    ids = [t.target_id for t in parsed.targets]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{key}: targets: a target_id appears twice")
    return parsed


@dataclass(frozen=True)
class Catalogued:
    """The merged list and where each target comes from."""

    targets: list[ScalingTarget]
    sources: dict[str, Source]
    #: ids whose mode the operator's ``modes`` set
    operator_modes: frozenset[str]


def merge(
    deployed: Sequence[ScalingTarget], operator: OperatorTargets, discovered: Sequence[ScalingTarget] = ()
) -> Catalogued:
    """The targets of the three sources, by the precedence of the module docstring."""
    chosen: dict[str, tuple[ScalingTarget, Source]] = {t.target_id: (t, "deploy") for t in deployed}
    for target in operator.targets:
        # an operator target replaces whatever managed the same group or service under another id
        for other, (existing, _) in list(chosen.items()):
            if other != target.target_id and (existing.kind, existing.resource_id) == (target.kind, target.resource_id):
                del chosen[other]
        chosen[target.target_id] = (target, "operator")
    removed = set(operator.removed)
    resources = {(t.kind, t.resource_id) for t, _ in chosen.values()}
    for target in discovered:
        if target.target_id in chosen or (target.kind, target.resource_id) in resources:
            continue
        chosen[target.target_id] = (target, "discovered")
        resources.add((target.kind, target.resource_id))
    for target_id in removed:
        chosen.pop(target_id, None)
    moded: set[str] = set()
    for target_id, mode in operator.modes.items():
        if target_id in chosen and chosen[target_id][0].mode != mode:
            target, source = chosen[target_id]
            chosen[target_id] = (target.model_copy(update={"mode": mode}), source)
        if target_id in chosen:
            moded.add(target_id)
    ordered = sorted(chosen)
    return Catalogued(
        targets=[chosen[i][0] for i in ordered],
        sources={i: chosen[i][1] for i in ordered},
        operator_modes=frozenset(moded),
    )


@dataclass
class TargetCatalog:
    objects: ObjectStore
    key: str
    clock: Clock
    discovery: TargetDiscovery | None = None
    ttl_seconds: int = CATALOG_TTL_SECONDS
    #: the operator's object (None: none, e.g. a tool reading the deployed list only)
    operator: OperatorConfigStore | None = None
    discovery_ttl_seconds: int = DISCOVERY_TTL_SECONDS
    #: Discovered resources that could not be turned into targets, from the last discovery.
    problems: list[str] = field(default_factory=list)
    _cached: Catalogued | None = field(default=None, init=False)
    _loaded_at: datetime | None = field(default=None, init=False)
    _discovered: list[ScalingTarget] = field(default_factory=list, init=False)
    _discovered_at: datetime | None = field(default=None, init=False)
    #: the last parse of each object, by the digest of its bytes
    _parsed: dict[str, tuple[bytes, object]] = field(default_factory=dict, init=False)

    def _unchanged(self, key: str, body: bytes) -> object | None:
        digest = hashlib.blake2b(body, digest_size=16).digest()
        known = self._parsed.get(key)
        return known[1] if known is not None and known[0] == digest else None

    def _remember(self, key: str, body: bytes, parsed: object) -> None:
        self._parsed[key] = (hashlib.blake2b(body, digest_size=16).digest(), parsed)

    def _configured(self) -> list[ScalingTarget]:
        try:
            body = self.objects.get(self.key)
        except NotFoundError:
            return []
        known = self._unchanged(self.key, body)
        if isinstance(known, list):
            return known
        parsed = self._parse_configured(body)
        self._remember(self.key, body, parsed)
        return parsed

    def _parse_configured(self, body: bytes) -> list[ScalingTarget]:
        return parse_targets(_json_object(body, self.key))

    def operator_targets(self) -> OperatorTargets:
        """The operator's object as stored now (empty when there is none)."""
        stored = None if self.operator is None else self.operator.load()
        if stored is None:
            return OperatorTargets()
        key = operator_key(self.key)
        known = self._unchanged(key, stored.body)
        if isinstance(known, OperatorTargets):
            return known
        parsed = parse_operator_targets(stored.body, key)
        self._remember(key, stored.body, parsed)
        return parsed

    def _discover(self, now: datetime) -> list[ScalingTarget]:
        if self.discovery is None:
            return []
        if (
            self._discovered_at is None
            or abs((now - self._discovered_at).total_seconds()) >= self.discovery_ttl_seconds
        ):
            found = self.discovery.discover()
            self.problems = list(found.problems)
            self._discovered = list(found.targets)
            self._discovered_at = now
        return self._discovered

    def refresh(self) -> list[ScalingTarget]:
        now = self.clock.now()
        self._cached = merge(self._configured(), self.operator_targets(), self._discover(now))
        self._loaded_at = now
        return list(self._cached.targets)

    def invalidate(self) -> None:
        """Forget the cached list (after this container changed the configuration itself)."""
        self._cached = None

    def catalogued(self) -> Catalogued:
        """The list with the source of each target (refreshed when older than the TTL)."""
        self.targets()
        assert self._cached is not None
        return self._cached

    def targets(self) -> list[ScalingTarget]:
        now = self.clock.now()
        if (
            self._cached is None
            or self._loaded_at is None
            or abs((now - self._loaded_at).total_seconds()) >= self.ttl_seconds
        ):
            return self.refresh()
        return list(self._cached.targets)

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


def learned_target(target: ScalingTarget, store: StateStore) -> tuple[ScalingTarget | None, str | None]:
    """``target`` with a numeric ``capacity_per_instance`` (the learned one for ``learn``), or why not."""
    if target.capacity_per_instance != "learn":
        return target, None
    learned = store.get_learned_capacity(target.target_id)
    if learned is None or learned.capacity_per_instance is None:
        has = 0 if learned is None else learned.samples
        why = "" if learned is None or not learned.reason else f": {learned.reason}"
        return None, f"capacity_per_instance 'learn': not learned yet (needs {MIN_SAMPLES} samples, has {has}){why}"[
            :500
        ]
    estimate = CapacityEstimate(
        learned.capacity_per_instance, learned.samples, learned.r2, learned.outliers, learned.method
    )
    return resolve_capacity(target, estimate), None
