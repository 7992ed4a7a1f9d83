"""The decider's forecast record outlives the invocation: stored after a round, scored by a later one.

Each round below runs on a freshly wired set of handlers (a new Lambda container: nothing carried in
memory), so whatever the decider knows about its past forecasts came from its record in the bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from e2e_support import STEP, Pipeline, asg_target, daily_shape, five_minute_index

from functions.adapters import tracker_codec
from functions.adapters.tracker_records import S3TrackerRecords, tracker_key
from functions.domain.calibration import ForecastTracker
from functions.domain.decision import tracker_for

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 10, tzinfo=UTC)
START = DAY + timedelta(hours=9)


def load_at(at: datetime) -> float:
    return 900.0 + 10.0 * ((at - START) // timedelta(seconds=STEP))


def test_the_record_survives_between_invocations_and_scores_the_first_forecast(pipeline: Pipeline):
    # GIVEN a group with two days of history, and the pipeline running every five minutes
    prefix = pipeline.aws.prefix
    web = asg_target("web", f"{prefix}-web")
    pipeline.aws.create_asg(f"{prefix}-web", desired=10, min_size=1, max_size=60)
    pipeline.aws.put_targets([web])
    history = five_minute_index(DAY - timedelta(days=2), START)
    pipeline.seed_history("web", history, daily_shape(history, base=800.0, peak=1200.0, peak_hour=12.0))
    bucket = S3TrackerRecords(pipeline.aws.client("s3"), pipeline.aws.bucket)
    records, forecasts = [], []
    for k in range(3):
        at = START + timedelta(seconds=k * STEP)
        pipeline.put_load(web, at - timedelta(seconds=STEP), load_at(at - timedelta(seconds=STEP)))
        # WHEN each round runs in a new container
        pipeline.rewire()
        pipeline.run_round(at + timedelta(seconds=10))
        stored = bucket.get("web")
        assert stored is not None, f"round {k}: no forecast record stored"
        records.append((stored.version, tracker_codec.decode(stored.body)))
        forecasts.append(pipeline.store.latest_forecast("web"))
    # THEN each round replaced the record (one object, a new version each time, nothing in the state table)
    assert len({version for version, _ in records}) == 3
    assert [o["Key"] for o in pipeline.aws.client("s3").list_objects_v2(Bucket=pipeline.aws.bucket,
            Prefix="tracker/")["Contents"]] == [tracker_key("web")]  # fmt: skip
    assert pipeline.store.items.get(pipeline.store.names.state, "TARGET#web", "TRACKER") is None
    first = ForecastTracker.from_state(records[0][1])
    assert first.to_state()["ratios"] == [] and len(first.to_state()["pending"]) == 1
    # AND the third round (the first forecast's window, boot + interval, now past) scored it against the
    # loads the collector stored: ratio = (load + offset) / (median + offset) for each step of the window
    third = records[2][1]
    offset = tracker_for(web).offset
    window = tracker_for(web).window_steps
    path = forecasts[0].to_path()  # type: ignore[union-attr]
    stamps = path.ds[:window]
    expected = [
        (load_at(stamp.to_pydatetime().replace(tzinfo=UTC)) + offset) / (p50 + offset)
        for stamp, p50 in zip(stamps, path.p50[:window], strict=True)
    ]
    assert np.allclose(third["ratios"], expected, rtol=1e-12), (third["ratios"], expected)
    assert third["stamps"] == [int(pd.Timestamp(s).value) for s in stamps]
    # AND the second and third rounds' forecasts wait to be scored
    assert len(third["pending"]) == 2
