"""The trace CSV reader fuzzed: any text gives a trace on a regular grid, or an error naming the line or
field and the reason; oversized input is refused before any parsing."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.domain import trace as trace_module
from functions.domain.trace import Trace, TraceError, parse_trace, read_trace

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
#: "line 7: ...", "trace: ...", "timestamp: ...", "header ..." — where, then why
NAMED = re.compile(r"^(line \d+|trace|timestamp|value|header)\b[^:]*: \S")
START = datetime(2026, 3, 10, tzinfo=UTC)

cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "nan", "NaN", "inf", "-1", "1e999", "1e16", "0", "12.5", '"', '""', "a,b", "\r", "\x00"]),
    st.sampled_from(
        ["0001-01-01T00:00:00", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00+14:00", "2026-03-10T00:00:00-12:00"]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 10_000).map(lambda m: (START + timedelta(minutes=m)).isoformat()),
    st.integers(-5, 10_000).map(lambda m: (START + timedelta(minutes=5 * m)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.integers(0, 10_000).map(lambda m: (START + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S+05:30")),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=3), max_size=40)
headers = st.sampled_from(["timestamp,value", "Timestamp, Value", "time,value", "timestamp", "", "value,timestamp"])


def csv_text(header: str, body: list[list[str]], newline: str) -> str:
    return newline.join([header, *[",".join(row) for row in body]])


texts = st.one_of(
    st.text(max_size=300),
    st.builds(csv_text, headers, rows, st.sampled_from(["\n", "\r\n", "\r"])),
    st.builds(
        csv_text,
        st.just("timestamp,value"),
        st.lists(st.tuples(st.integers(0, 500), st.floats(0, 1e6)), min_size=2, max_size=60).map(
            lambda points: [[(START + timedelta(minutes=5 * m)).isoformat(), repr(v)] for m, v in points]
        ),
        st.just("\n"),
    ),
)


def check(figures: Any, text: str) -> Trace | TraceError:
    try:
        parsed = parse_trace(text)
    except TraceError as error:
        named = bool(NAMED.match(str(error)))
        figures.add("fuzz", "trace CSV reader", inputs=1, crashes=0 if named else 1, refused=1)
        assert named, f"the error names no line or field: {error}"
        return error
    except Exception as error:
        figures.add("fuzz", "trace CSV reader", inputs=1, crashes=1, refused=0)
        raise AssertionError(f"crash: {type(error).__name__}: {error}") from error
    figures.add("fuzz", "trace CSV reader", inputs=1, crashes=0, refused=0)
    return parsed


@FUZZ
@given(text=texts)
def test_any_text_gives_a_regular_trace_or_names_the_line_and_reason(figures, text):
    parsed = check(figures, text)
    if isinstance(parsed, Trace):
        # a trace is on a regular grid, as long as its values, with no negative or infinite load
        assert parsed.step_seconds > 0 and len(parsed.ds) == len(parsed.y) >= 2
        assert np.all(np.diff(parsed.ds.asi8) == parsed.step_seconds * 1_000_000_000)
        known = parsed.y[~np.isnan(parsed.y)]
        assert np.all(known >= 0) and np.all(np.isfinite(known))


def test_oversized_text_is_refused_before_parsing(figures, monkeypatch):
    # GIVEN a limit of 1 KiB, and a CSV module that must not be reached
    monkeypatch.setattr(trace_module, "MAX_TRACE_BYTES", 1024)

    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("the oversized text reached the CSV parser")

    monkeypatch.setattr(trace_module.csv, "reader", never)
    # WHEN 2 KiB of trace arrive THEN they are refused, naming the limit
    with pytest.raises(TraceError, match=r"^trace: 2048 bytes is over the 1024 byte limit"):
        parse_trace("x" * 2048)
    figures.add("fuzz", "trace CSV reader: oversized", inputs=1, crashes=0, refused=1)


def test_an_oversized_file_is_refused_before_it_is_read(figures, tmp_path, monkeypatch):
    # GIVEN a sparse file one byte over the real 200 MB limit (no disk used), which must not be read
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(trace_module.MAX_TRACE_BYTES + 1)
    monkeypatch.setattr(type(path), "read_text", lambda *_a, **_k: (_ for _ in ()).throw(AssertionError("read")))
    # WHEN it is read THEN it is refused from its size alone
    with pytest.raises(TraceError, match=r"^trace: .* bytes, over the \d+ byte limit"):
        read_trace(path)
    assert os.path.getsize(path) == trace_module.MAX_TRACE_BYTES + 1
    figures.add("fuzz", "trace CSV reader: oversized", inputs=1, crashes=0, refused=1)


def local_rows(start: datetime, end: datetime, zone: str) -> list[str]:
    """Rows every 5 minutes stamped in ``zone``'s wall-clock time without an offset, as a local export does."""
    from zoneinfo import ZoneInfo

    rows, at = [], start
    while at < end:
        wall = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        rows.append(f"{wall:%Y-%m-%d %H:%M:%S},{100 + at.minute}")
        at += timedelta(minutes=5)
    return rows


def test_local_time_repeating_an_hour_in_autumn_is_refused_with_the_line_and_the_fix():
    # GIVEN Paris wall-clock times across 2024-10-27 (03:00 becomes 02:00: 02:00-02:55 come twice)
    rows = local_rows(datetime(2024, 10, 26, 22, tzinfo=UTC), datetime(2024, 10, 27, 4, tzinfo=UTC), "Europe/Paris")
    # WHEN it is parsed (before: the second 02:00-02:55 silently replaced or clashed with the first, read as UTC)
    with pytest.raises(TraceError) as refused:
        parse_trace("timestamp,value\n" + "\n".join(rows) + "\n")
    # THEN the line where the hour repeats is named, with the reason and the fix
    message = str(refused.value)
    repeat = 2 + rows.index("2024-10-27 02:00:00,100", rows.index("2024-10-27 02:00:00,100") + 1)
    assert message.startswith(f"line {repeat}: ") and "daylight-saving" in message and "offset" in message, message


def test_local_time_skipping_an_hour_in_spring_is_refused_with_the_line_and_the_fix():
    # GIVEN New York wall-clock times across 2024-03-10 (02:00-02:55 never happen)
    rows = local_rows(datetime(2024, 3, 10, 4, tzinfo=UTC), datetime(2024, 3, 10, 10, tzinfo=UTC), "America/New_York")
    # WHEN it is parsed (before: read as UTC with a one-hour gap)
    with pytest.raises(TraceError) as refused:
        parse_trace("timestamp,value\n" + "\n".join(rows) + "\n")
    # THEN the line after the missing hour is named, with the reason and the fix
    message = str(refused.value)
    after = 2 + next(i for i, row in enumerate(rows) if row.startswith("2024-03-10 03:00"))
    assert message.startswith(f"line {after}: ") and "daylight-saving" in message and "offset" in message, message


def test_the_same_times_with_offsets_or_in_utc_are_read():
    # GIVEN the autumn night with offsets, and an hour-long outage of a UTC trace on the spring date
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    at, rows = datetime(2024, 10, 26, 22, tzinfo=UTC), []
    while at < datetime(2024, 10, 27, 4, tzinfo=UTC):
        rows.append(f"{at.astimezone(paris).isoformat()},1")
        at += timedelta(minutes=5)
    # THEN both are read: offsets say which 02:00 is which; a gap in UTC-marked times is a gap
    assert len(parse_trace("timestamp,value\n" + "\n".join(rows) + "\n")) == 72
    utc = [f"2024-03-10T{h:02d}:{m:02d}:00Z,1" for h in range(0, 6) for m in range(0, 60, 5) if h != 2]
    assert len(parse_trace("timestamp,value\n" + "\n".join(utc) + "\n")) == 72
