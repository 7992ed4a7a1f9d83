"""Contract of the decider's forecast records (one S3 object per target): the twin and moto's server behave alike.

Both must do S3's compare-and-swap: a write names the ETag it read (``IfMatch``) or none (``IfNoneMatch='*'``),
and loses with :class:`ConflictError` when another writer got there first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from contract_support import T0

from forescale_tools.memory import InMemoryTrackerRecords
from functions.adapters import tracker_codec
from functions.adapters.errors import ConflictError
from functions.adapters.tracker_records import S3TrackerRecords, TrackerRecords, tracker_key

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "moto"])
def records(request: pytest.FixtureRequest, unique_name) -> Iterator[TrackerRecords]:
    if request.param == "memory":
        yield InMemoryTrackerRecords()
        return
    client = request.getfixturevalue("moto_client")("s3")
    bucket = unique_name("forescale-test")
    client.create_bucket(Bucket=bucket)
    # versioned like the deployed bucket: conditional writes must hold there too
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    yield S3TrackerRecords(client, bucket)


def tracker_state(samples: int, *, seed: int = 0, pending: int = 2) -> dict[str, Any]:
    """A ``ForecastTracker.to_state()`` with ``samples`` ratios (about 1) on one-minute stamps."""
    from functions.domain.calibration import ForecastTracker

    rng = np.random.default_rng(seed)
    tracker = ForecastTracker(offset=10.0, window_steps=10, step_seconds=60, max_samples=max(samples, 1))
    state = tracker.to_state()
    start = int(pd.Timestamp(T0).value)
    state["stamps"] = [start + i * 60_000_000_000 for i in range(samples)]
    state["ratios"] = np.exp(rng.normal(0.0, 0.1, samples)).tolist()
    state["pending"] = [
        [
            [start + (samples + k * 5 + i) * 60_000_000_000 for i in range(10)],
            rng.uniform(50, 150, 10).tolist(),
            1.25,
            7,
        ]
        for k in range(pending)
    ]
    state["recent"] = [[start + 3_600_000_000_000, rng.uniform(0.8, 1.2, 10).tolist()]]
    return state


def test_a_record_starts_absent_round_trips_exactly_and_changes_version(records: TrackerRecords):
    # GIVEN nothing stored
    assert records.get("web") is None
    # WHEN a default target's worth of ratios (20,160) is stored
    state = tracker_state(20_160)
    body = tracker_codec.encode(state)
    version = records.put("web", body, None)
    # THEN it reads back byte for byte with the version the write returned, and decodes to every value
    stored = records.get("web")
    assert stored is not None
    assert stored.body == body and stored.version == version
    assert tracker_codec.decode(stored.body) == state
    # AND a replacement naming that version gets a new one
    second = tracker_codec.encode(tracker_state(100, seed=1))
    newer = records.put("web", second, version)
    assert newer != version
    assert records.get("web") == (second, newer)
    # AND each target has its own record (ids with '/' or ':' too)
    assert records.get("web/eu:1") is None
    records.put("web/eu:1", b"other", None)
    assert records.get("web/eu:1").body == b"other"  # type: ignore[union-attr]
    assert records.get("web").body == second  # type: ignore[union-attr]


def test_of_two_writers_that_read_the_same_version_the_first_wins(records: TrackerRecords):
    # GIVEN a stored record both deciders read
    read = records.put("web", tracker_codec.encode(tracker_state(10)), None)
    first, second = tracker_codec.encode(tracker_state(10, seed=1)), tracker_codec.encode(tracker_state(10, seed=2))
    # WHEN both store their own record naming what they read
    records.put("web", first, read)
    # THEN the second loses and the first's record stays
    with pytest.raises(ConflictError, match="forecast record"):
        records.put("web", second, read)
    assert records.get("web").body == first  # type: ignore[union-attr]


def test_creating_a_record_that_another_writer_created_loses(records: TrackerRecords):
    # GIVEN two deciders that both found no record, the first of which stored one
    records.put("web", b"first", None)
    # THEN the second's creation loses rather than replacing it
    with pytest.raises(ConflictError):
        records.put("web", b"second", None)
    assert records.get("web").body == b"first"  # type: ignore[union-attr]


def test_replacing_a_record_that_is_not_there_loses(records: TrackerRecords):
    # GIVEN a decider that read a version of a record since removed (or never in this store)
    version = records.put("web", b"first", None)
    # THEN naming that version for another target's record is a conflict, not a creation
    with pytest.raises(ConflictError):
        records.put("api", b"second", version)
    assert records.get("api") is None


def test_the_key_encodes_the_target_id():
    assert tracker_key("web") == "tracker/target=web/record.bin"
    assert tracker_key("a/b:c") == "tracker/target=a%2Fb%3Ac/record.bin"


class ForbiddingMissingKeys:
    """Wraps a real ``s3`` client: ``GetObject`` of a missing key answers 403 AccessDenied, as S3 does for a
    caller that may not list that key (moto answers 404); every call still goes to moto."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_object(self, **kwargs: Any) -> Any:
        try:
            return self.inner.get_object(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchKey":
                raise
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject") from None


class ForbiddingAll(ForbiddingMissingKeys):
    """``GetObject`` of any key answers 403 (a role without ``s3:GetObject``)."""

    def get_object(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")


def test_a_missing_record_is_none_when_s3_says_403_for_keys_it_may_not_list(moto_client, unique_name):
    # GIVEN S3 answering 403 instead of 404 for a missing key
    client = moto_client("s3")
    bucket = unique_name("forescale-test")
    client.create_bucket(Bucket=bucket)
    records = S3TrackerRecords(ForbiddingMissingKeys(client), bucket)  # type: ignore[arg-type]
    # THEN a missing record is None (a one-key listing says it is not there) ...
    assert records.get("web") is None
    # ... a stored one still reads ...
    version = records.put("web", b"record", None)
    assert records.get("web") == (b"record", version)
    # ... and a 403 for a key that is there is not taken for "missing"
    with pytest.raises(ClientError, match="AccessDenied"):
        S3TrackerRecords(ForbiddingAll(client), bucket).get("web")  # type: ignore[arg-type]
