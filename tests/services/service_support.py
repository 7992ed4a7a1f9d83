"""Helpers of the service tests: targets, history and load in the in-memory twins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from forescale_tools.local_router import MemoryWorld
from functions.domain.target import LoadMetric, ScalingTarget

STEP = 300
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def target(target_id: str = "web", **overrides: Any) -> ScalingTarget:
    config: dict[str, Any] = {
        "target_id": target_id,
        "kind": "asg",
        "asg_name": f"{target_id}-asg",
        "metric": LoadMetric(
            namespace="T/Load", name="Requests", dimensions={"Target": target_id}, period_seconds=STEP
        ),
        "capacity_per_instance": 100.0,
        "boot_seconds": 300,
        "min_capacity": 1,
        "max_capacity": 60,
        "mode": "direct",
        "decision_interval_seconds": STEP,
        "scale_in_stabilization_seconds": 0,
        "max_step_down": 50,
    }
    config.update(overrides)
    if config["kind"] == "ecs":
        config.pop("asg_name", None)
        config.setdefault("ecs_cluster", "c")
        config.setdefault("ecs_service", target_id)
    return ScalingTarget.model_validate(config)


def flat_history(world: MemoryWorld, target_id: str, value: float, *, until: datetime = NOON, days: float = 2) -> None:
    ds = pd.date_range(
        (until - timedelta(days=days)).replace(tzinfo=None), until.replace(tzinfo=None), freq="300s", inclusive="left"
    )
    world.archive.write_history(target_id, pd.DataFrame({"ds": ds, "y": np.full(len(ds), value)}), part_id="0-seed")


def put_load(world: MemoryWorld, t: ScalingTarget, at: datetime, value: float) -> None:
    world.cloudwatch.put_metric_data(
        Namespace=t.metric.namespace,
        MetricData=[
            {
                "MetricName": t.metric.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in t.metric.dimensions.items()],
                "Timestamp": at,
                "Value": value,
            }
        ],
    )
