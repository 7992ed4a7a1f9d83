"""The decider's forecast record in binary: exact, compact, and refused clearly when damaged."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pandas as pd
import pytest

from functions.adapters import tracker_codec
from functions.domain.calibration import ForecastTracker
from functions.domain.decision import tracker_for
from functions.domain.target import ScalingTarget
from models.api import ForecastPath

TARGET = ScalingTarget.model_validate(
    {
        "target_id": "web",
        "kind": "asg",
        "asg_name": "web",
        "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount", "dimensions": {"LoadBalancer": "lb"}},
        "capacity_per_instance": 100.0,
        "max_capacity": 50,
    }
)


def full_tracker(seed: int = 0) -> ForecastTracker:
    """A default target's record after more than a week of 5-minute decisions (ring full, some pending)."""
    rng = np.random.default_rng(seed)
    tracker = tracker_for(TARGET)
    step = 60 * 10**9
    start = int(pd.Timestamp("2026-03-01").value)
    decisions = tracker.max_samples // tracker.window_steps + 3
    for k in range(decisions):
        now = start + k * 5 * step
        if k % 50 == 49 or k == decisions - 1:  # score what is pending now and then (cheaper than every time)
            steps = (now - start) // step
            loads = np.full(steps, 500.0) * np.exp(rng.normal(0, 0.1, steps))
            tracker.observe(np.arange(start, now, step, dtype=np.int64), loads, now_ns=now)
        ds = pd.DatetimeIndex(pd.to_datetime(np.arange(now, now + 10 * step, step)))
        p50 = np.full(10, 500.0) * np.exp(rng.normal(0, 0.05, 10))
        path = ForecastPath("web", pd.Timestamp(now).to_pydatetime(), ds, p50, p50, p50, 0.8, "m")
        tracker.record(path, now_ns=now, bias=1.0)
    return tracker


def test_round_trip_is_exact_and_the_tracker_calibrates_identically():
    # GIVEN a default target's full record (20,160 ratios)
    tracker = full_tracker()
    state = tracker.to_state()
    assert len(state["ratios"]) == tracker.max_samples == 20_160
    # WHEN it is encoded and decoded
    back = tracker_codec.decode(tracker_codec.encode(state))
    # THEN every value is exact, and the rebuilt tracker calibrates identically
    assert back == state
    now = state["stamps"][-1] + 3_600 * 10**9
    a, b = tracker.calibration(now_ns=now), ForecastTracker.from_state(back).calibration(now_ns=now)
    assert np.array_equal(a.ratios, b.ratios) and a.bias == b.bias and np.array_equal(a.local_ns, b.local_ns)
    # AND so does its confidence (the record's, against seasonal naive)
    now = state["scores"][-1][0]
    a, b = tracker.calibration(now_ns=now), ForecastTracker.from_state(back).calibration(now_ns=now)
    assert a.confidence is not None and (a.confidence, a.error_ratio) == (b.confidence, b.error_ratio)


def test_a_default_targets_record_fits_one_item_with_room():
    # GIVEN the same record as JSON and in binary
    state = full_tracker().to_state()
    blob = tracker_codec.encode(state)
    # THEN the binary is well under DynamoDB's 400 KB item (about 6.6 bytes a ratio; JSON needs ~5 x more)
    assert len(blob) < 8 * len(state["ratios"]) < 400_000
    assert len(blob) < 170_000


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"garbage", "not zlib data"),
        (zlib.compress(b"JSON{}"), "unknown format"),
        (zlib.compress(b"FTS1" + struct.pack("<I", 2) + b"{}"), "header is malformed"),
    ],
)
def test_damaged_blobs_are_refused_naming_the_fault(blob, message):
    with pytest.raises(ValueError, match=message):
        tracker_codec.decode(blob)


def test_a_truncated_value_block_is_refused():
    # GIVEN a valid record with its last value cut off
    body = zlib.decompress(tracker_codec.encode(full_tracker().to_state()))
    # THEN decoding says how many bytes it found for what the header announced
    with pytest.raises(ValueError, match="bytes of values"):
        tracker_codec.decode(zlib.compress(body[:-8]))


def test_malformed_confidence_scores_are_refused_naming_them():
    import json

    # GIVEN a record whose header's error sums are not [end, forecast error, naive error, steps] rows
    header = {"settings": {}, "pending": [], "ring": [0, 0], "recent": [], "scores": [[1, "x", 2.0, 3]]}
    raw = json.dumps(header).encode()
    blob = zlib.compress(b"FTS1" + struct.pack("<I", len(raw)) + raw)
    # THEN decoding names them
    with pytest.raises(ValueError, match="scores are malformed"):
        tracker_codec.decode(blob)
