"""Tag discovery: Auto Scaling groups and ECS services tagged ``forescale:enabled=true`` become targets.

How each kind is found (``tag:GetResources`` does not list Auto Scaling groups, AWS documents it):

- Auto Scaling groups: ``DescribeAutoScalingGroups`` filtered on the tag (``autoscaling`` client);
- ECS services: ``tag:GetResources`` with ``ResourceTypeFilters=["ecs:service"]`` (``resourcegroupstaggingapi``).

A discovered resource's settings come from its tags named ``forescale:<field>``; values are text:

==========================================  ==========================================================
tag                                         meaning
==========================================  ==========================================================
``forescale:target_id``                     id of the target (default: group name, ``cluster/service``)
``forescale:metric``                        the load metric as JSON (a :class:`LoadMetric`), or
``forescale:metric.<field>``                one field of it (``namespace``, ``name``, ``statistic``...);
                                            ``forescale:metric.dimensions`` is ``K=V;K=V`` or JSON
``forescale:<field>``                       any other :class:`ScalingTarget` field (numbers as text)
``forescale:cost.<field>``                  a field of the cost model
==========================================  ==========================================================

The resource's other tags (not ``forescale:``, not ``aws:``) become the target's ``tags``, which
business-event ``tag_selector`` s match. A resource whose tags do not make a valid target is skipped
and reported (:attr:`Discovered.problems`, naming the resource, the field and the reason), never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from events.errors import describe
from functions.domain.target import ScalingTarget
from functions.ports.discovery import Discovered

TAG_PREFIX = "forescale:"
ENABLED_TAG = "forescale:enabled"
#: Tags that say how to discover, not what to configure.
_CONTROL_TAGS = frozenset({ENABLED_TAG})


def parse_tag_filter(text: str) -> tuple[str, str]:
    """``forescale:enabled=true`` → (key, value); a clear error otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"FORESCALE_DISCOVERY_TAG: {text!r} must look like key=value")
    return key.strip(), value.strip()


def _dimensions(text: str) -> dict[str, str]:
    text = text.strip()
    if text.startswith("{"):
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("metric.dimensions: must be a JSON object or K=V;K=V")
        return {str(k): str(v) for k, v in loaded.items()}
    pairs = [part for part in text.split(";") if part.strip()]
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"metric.dimensions: {pair!r} is not K=V")
        out[key.strip()] = value.strip()
    return out


def target_from_tags(kind: str, resource: Mapping[str, str], tags: Mapping[str, str]) -> ScalingTarget:
    """Build a :class:`ScalingTarget` from a resource and its tags (module docstring); raises ``ValueError``."""
    config: dict[str, Any] = {"kind": kind, **resource}
    metric: dict[str, Any] = {}
    cost: dict[str, Any] = {}
    own_tags: dict[str, str] = {}
    for key, value in tags.items():
        if key.startswith("aws:") or key in _CONTROL_TAGS:
            continue
        if not key.startswith(TAG_PREFIX):
            own_tags[key] = value
            continue
        name = key.removeprefix(TAG_PREFIX)
        if name == "metric":
            try:
                loaded = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"metric: tag {key} is not JSON ({error.msg})") from error
            if not isinstance(loaded, dict):
                raise ValueError(f"metric: tag {key} must be a JSON object")
            metric.update(loaded)
        elif name == "metric.dimensions":
            metric["dimensions"] = _dimensions(value)
        elif name.startswith("metric."):
            metric[name.removeprefix("metric.")] = value
        elif name.startswith("cost."):
            cost[name.removeprefix("cost.")] = value
        elif name == "tags":
            raise ValueError("tags: set the resource's own tags instead of forescale:tags")
        else:
            config[name] = value
    if not metric:
        raise ValueError("metric: tag forescale:metric (JSON) or forescale:metric.namespace and .name is required")
    config["metric"] = metric
    if cost:
        config["cost"] = cost
    config["tags"] = own_tags
    config.setdefault(
        "target_id", resource.get("asg_name") or f"{resource.get('ecs_cluster')}/{resource.get('ecs_service')}"
    )
    try:  # tag values are text: numbers are read from it here (a configuration file is strict)
        return ScalingTarget.model_validate(config, strict=False)
    except ValidationError as error:
        raise ValueError(describe(error)) from error


class AwsTagDiscovery:
    """:class:`TargetDiscovery` over an ``autoscaling`` and a ``resourcegroupstaggingapi`` client."""

    def __init__(self, autoscaling: Any, tagging: Any, *, tag: tuple[str, str]) -> None:
        self._autoscaling = autoscaling
        self._tagging = tagging
        self._key, self._value = tag

    def discover(self) -> Discovered:
        found = Discovered()
        self._groups(found)
        self._services(found)
        found.targets.sort(key=lambda t: t.target_id)
        return found

    def _add(self, found: Discovered, kind: str, resource: dict[str, str], tags: Mapping[str, str], label: str) -> None:
        try:
            found.targets.append(target_from_tags(kind, resource, tags))
        except ValueError as error:
            found.problems.append(f"{label}: {error}")

    def _groups(self, found: Discovered) -> None:
        paginator = self._autoscaling.get_paginator("describe_auto_scaling_groups")
        pages = paginator.paginate(Filters=[{"Name": f"tag:{self._key}", "Values": [self._value]}])
        for page in pages:
            for group in page.get("AutoScalingGroups", []):
                name = group["AutoScalingGroupName"]
                tags = {t["Key"]: t.get("Value", "") for t in group.get("Tags", [])}
                if tags.get(self._key) != self._value:  # filters are a hint; the tag decides
                    continue
                self._add(found, "asg", {"asg_name": name}, tags, f"Auto Scaling group {name}")

    def _services(self, found: Discovered) -> None:
        paginator = self._tagging.get_paginator("get_resources")
        pages = paginator.paginate(
            TagFilters=[{"Key": self._key, "Values": [self._value]}], ResourceTypeFilters=["ecs:service"]
        )
        for page in pages:
            for item in page.get("ResourceTagMappingList", []):
                arn = item["ResourceARN"]
                parts = arn.split(":", 5)[-1].split("/")
                if len(parts) != 3 or parts[0] != "service":
                    found.problems.append(f"ECS service {arn}: old ARN format without the cluster; not supported")
                    continue
                tags = {t["Key"]: t.get("Value", "") for t in item.get("Tags", [])}
                self._add(found, "ecs", {"ecs_cluster": parts[1], "ecs_service": parts[2]}, tags, f"ECS service {arn}")


class StaticDiscovery:
    """A fixed discovery result (local runs and tests without tagging)."""

    def __init__(self, targets: list[ScalingTarget] | None = None, problems: list[str] | None = None) -> None:
        self._found = Discovered(list(targets or []), list(problems or []))

    def discover(self) -> Discovered:
        return Discovered(list(self._found.targets), list(self._found.problems))
