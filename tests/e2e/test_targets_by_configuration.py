"""Targets changed by configuration alone, end to end on moto's server: a target added with ``forescale targets``
is collected, forecast and decided in the next round; switched to floor, it is executed on its tagged group in
the round after; a group without the consent tag is never changed, whatever its configured mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_support import Pipeline, asg_target, five_minute_index

from forescale_tools import targets_cli
from forescale_tools.local_router import LambdaContext
from functions import wiring
from functions.wiring import Components
from tests.support.function_url import url_event

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def operator_cli(pipeline: Pipeline) -> Any:
    """``forescale targets`` whose requests reach the API handler in a container of its own (its own
    catalogue and clients, as the deployed API function has), on this pipeline's moto resources."""
    from functions.handlers import api

    container = Components.from_env(clock=pipeline.clock, ids=pipeline.ids, sleep=lambda _s: None)

    def send(method: str, path: str, body: bytes | None) -> tuple[int, Any]:
        with wiring.use(container):
            event = url_event(method, path, body=None if body is None else body.decode())
            response = api.handler(event, LambdaContext("api", "req-1"))
        text = response.get("body")
        return int(response["statusCode"]), json.loads(text) if text else None

    def run(*argv: str) -> None:
        assert targets_cli.main(list(argv), send=send) == 0, argv

    return run


def test_a_target_added_and_switched_to_floor_by_configuration_alone(pipeline: Pipeline, tmp_path: Path):
    # GIVEN a deployment whose configuration lists no target, a group tagged forescale:enabled=true and one
    # without the tag, both at 2 instances, and a load of 1,000 that needs far more (100 per instance)
    prefix = pipeline.aws.prefix
    pipeline.aws.put_targets([])
    new = asg_target("new", f"{prefix}-new", mode="forecast_only")
    untagged = asg_target("untagged", f"{prefix}-untagged", mode="forecast_only")
    pipeline.aws.create_asg(f"{prefix}-new", desired=2, min_size=1, max_size=60)
    pipeline.aws.create_asg(f"{prefix}-untagged", desired=2, min_size=1, max_size=60, tags={})
    history = five_minute_index(DAY - timedelta(days=2), DAY + timedelta(hours=12))
    for target in (new, untagged):
        pipeline.seed_history(target.target_id, history, np.full(len(history), 1000.0))
    cli = operator_cli(pipeline)
    pipeline.clock.current = DAY + timedelta(hours=11, minutes=58)
    for target in (new, untagged):
        file = tmp_path / f"{target.target_id}.json"
        file.write_text(json.dumps(target.model_dump(mode="json")))
        cli("put", str(file))

    def round_at(minutes: int) -> None:
        at = DAY + timedelta(hours=12, minutes=minutes)
        for target in (new, untagged):
            pipeline.put_load(target, at - timedelta(seconds=300), 1000.0)
        pipeline.run_round(at + timedelta(seconds=10))

    # WHEN the next round runs
    round_at(0)
    # THEN both were collected, forecast and decided in that round, and nothing was changed (forecast_only)
    (collected,) = [d for d in pipeline.rounds[-1][1] if d.function == "collector"]
    for target_id in ("new", "untagged"):
        assert pipeline.store.latest_forecast(target_id) is not None, target_id
        (decision,) = pipeline.store.decisions(target_id, DAY, DAY + timedelta(days=1))
        assert decision.mode == "forecast_only" and decision.action == "scale_out", decision
    assert collected.error is None
    assert pipeline.aws.asg_desired(f"{prefix}-new") == (2, 1, 60)

    # WHEN both are switched to floor between two rounds, and the next round runs
    pipeline.clock.current = DAY + timedelta(hours=12, minutes=2)
    cli("set-mode", "new", "floor")
    cli("set-mode", "untagged", "floor")
    round_at(5)
    # THEN both were decided in floor mode; the tagged group's minimum was raised to the decision ...
    decided = {t: pipeline.store.decisions(t, DAY, DAY + timedelta(days=1))[-1] for t in ("new", "untagged")}
    assert {d.mode for d in decided.values()} == {"floor"}
    outcomes = {r["target_id"]: r for r in pipeline.results("executor") if r["status"] != "skipped"}
    assert outcomes["new"]["status"] == "executed", outcomes
    desired, low, high = pipeline.aws.asg_desired(f"{prefix}-new")
    assert low == decided["new"].desired_capacity > 2 and desired >= low and high == 60
    # ... and the untagged group was never changed: the executor refused it before any write
    assert outcomes["untagged"]["status"] == "failed" and "forescale:enabled=true" in outcomes["untagged"]["reason"]
    assert pipeline.aws.asg_desired(f"{prefix}-untagged") == (2, 1, 60)
    failed = pipeline.store.actions("untagged", DAY, DAY + timedelta(days=1))
    # (the round's decision, and the SLO breach responder's when the 2 instances cannot serve the load)
    assert failed and {a.error_code for a in failed} == {"NoConsent"}  # type: ignore[union-attr]
