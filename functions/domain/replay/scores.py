"""The scores of docs/replay-spec.md, computed over the steps after the warm-up whose load is known.

Where a denominator could be zero (``min_instances = 0`` and no load) the step's share is 0 for
``under_pct`` and its surplus is divided by 1 for ``over_pct``; with the default ``min_instances = 1``
this never happens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    """How one policy did on one trace (see docs/replay-spec.md for each definition)."""

    under_time_pct: float
    under_pct: float
    over_pct: float
    dropped_pct: float
    instance_hours: float
    cost_ratio: float
    actions: int
    scored_steps: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


SCORE_NAMES: tuple[str, ...] = (
    "under_time_pct",
    "under_pct",
    "over_pct",
    "dropped_pct",
    "instance_hours",
    "cost_ratio",
    "actions",
)


def scored_mask(load: np.ndarray, *, warmup_steps: int) -> np.ndarray:
    """Steps that count: after the warm-up and with a known load."""
    mask = ~np.isnan(load)
    mask[: min(warmup_steps, len(mask))] = False
    return mask


def instance_hours(alive: np.ndarray, mask: np.ndarray, *, step_seconds: int) -> float:
    """Cost of every launched instance (booting ones included) over the scored steps."""
    return float(alive[mask].sum()) * step_seconds / 3600.0


def score(
    *,
    load: np.ndarray,
    demand: np.ndarray,
    desired: np.ndarray,
    in_service: np.ndarray,
    alive: np.ndarray,
    capacity_per_instance: float,
    step_seconds: int,
    warmup_steps: int,
    oracle_instance_hours: float | None,
) -> Scores:
    """All scores of one policy; ``cost_ratio`` is NaN when the oracle's cost is unknown or zero."""
    mask = scored_mask(load, warmup_steps=warmup_steps)
    steps = int(mask.sum())
    hours = instance_hours(alive, mask, step_seconds=step_seconds)
    post_warmup = np.arange(len(desired)) >= warmup_steps
    changes = np.zeros(len(desired), dtype=bool)
    changes[1:] = desired[1:] != desired[:-1]
    actions = int((changes & post_warmup).sum())
    cost_ratio = hours / oracle_instance_hours if oracle_instance_hours else float("nan")
    if steps == 0:
        nan = float("nan")
        return Scores(nan, nan, nan, nan, hours, cost_ratio, actions, 0)
    d = demand[mask].astype(float)
    s = in_service[mask].astype(float)
    loads = load[mask]
    shortfall = np.clip(d - s, 0, None)
    surplus = np.clip(s - d, 0, None)
    under_share = np.divide(shortfall, d, out=np.zeros_like(d), where=d > 0)
    over_share = surplus / np.maximum(d, 1.0)
    dropped = np.clip(loads - s * capacity_per_instance, 0, None).sum()
    total = loads.sum()
    return Scores(
        under_time_pct=100.0 * float((s < d).mean()),
        under_pct=100.0 * float(under_share.mean()),
        over_pct=100.0 * float(over_share.mean()),
        dropped_pct=100.0 * float(dropped / total) if total > 0 else 0.0,
        instance_hours=hours,
        cost_ratio=cost_ratio,
        actions=actions,
        scored_steps=steps,
    )
