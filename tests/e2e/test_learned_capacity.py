"""``capacity_per_instance: learn`` on moto: skipped until the trainer has learned it, then decided with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from e2e_support import STEP, Pipeline, asg_target, decisions, five_minute_index

from functions.domain.capacity_model import MIN_SAMPLES, busy_series_id
from models.config import ForecastConfig

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)
START = DAY + timedelta(hours=9)
TRUE_CAPACITY = 150.0


def test_a_learn_target_is_decided_once_the_trainer_has_learned_its_capacity(pipeline: Pipeline):
    # GIVEN a group that learns its capacity per instance, with two days of load history and of the
    # busy instance-equivalents (utilisation x in service) the collector stores for such a target
    prefix = pipeline.aws.prefix
    web = asg_target("web", f"{prefix}-web", capacity_per_instance="learn")
    pipeline.aws.create_asg(f"{prefix}-web", desired=4, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    history = five_minute_index(DAY - timedelta(days=2), START)
    hours = np.asarray(history.hour + history.minute / 60)
    load = 600 + 300 * np.sin(2 * np.pi * hours / 24)
    busy = load / TRUE_CAPACITY * np.exp(np.random.default_rng(1).normal(0, 0.02, len(history)))
    pipeline.seed_history("web", history, load)
    pipeline.seed_history(busy_series_id("web"), history, busy)
    pipeline.change(forecast_config=ForecastConfig(models=("SeasonalNaive",), backtest_every_minutes=240))

    def round_at(at: datetime) -> None:
        pipeline.put_load(web, at - timedelta(seconds=STEP), 1200.0)
        pipeline.aws.client("cloudwatch").put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[{"MetricName": "CPUUtilization", "Timestamp": at - timedelta(seconds=STEP), "Value": 50.0,
                         "Dimensions": [{"Name": "AutoScalingGroupName", "Value": f"{prefix}-web"}]}],
        )  # fmt: skip
        pipeline.run_round(at + timedelta(seconds=10))

    # WHEN a round runs before the trainer has: the decider skips the target, saying why
    round_at(START)
    (skipped,) = [o for o in pipeline.results("decider")[-1]["decisions"] if o["target_id"] == "web"]
    assert skipped["action"] == "skipped"
    assert skipped["reason"] == f"capacity_per_instance 'learn': not learned yet (needs {MIN_SAMPLES} samples, has 0)"
    # ... while the collector stored this round's busy point: 50 % of the 4 instances in service
    stored_busy = pipeline.archive.read_history(busy_series_id("web"), START - timedelta(minutes=5), START)
    assert stored_busy["y"].tolist() == pytest.approx([2.0])
    # WHEN the daily trainer runs
    pipeline.clock.current = START + timedelta(minutes=2)
    answer = pipeline.router.invoke("trainer", {})
    assert answer.error is None, answer.error
    # THEN it learned the capacity per instance (the seeded 150, and this round's 1200 / 2 = 600 outlier
    # does not drag it), stored in DynamoDB
    learned = pipeline.store.get_learned_capacity("web")
    assert learned is not None and learned.capacity_per_instance == pytest.approx(TRUE_CAPACITY, rel=0.02)
    assert answer.result["capacity_learned"]["web"] == pytest.approx(learned.capacity_per_instance)
    # AND the next round decides with it: 1200 at 0.9 SLO utilisation of ~150 each needs 9 instances
    round_at(START + timedelta(seconds=STEP))
    made = [d for d in decisions(pipeline, "web") if d.decided_at >= START]
    assert made and made[-1].desired_capacity >= 9, [d.reason for d in made]
    assert pipeline.aws.asg_desired(f"{prefix}-web")[0] >= 9
