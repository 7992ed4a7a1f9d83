"""The trace reader: gaps stay gaps, and bad input is refused naming the line and the reason."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.domain.trace import TraceError, parse_trace, read_trace, write_trace

BUNDLED = Path(__file__).parents[2] / "data" / "traces" / "nab" / "cpu_utilization_asg_misconfiguration.csv"


def test_bundled_trace_reads_on_a_five_minute_grid():
    trace = read_trace(BUNDLED)
    assert trace.step_seconds == 300
    assert len(trace) == 18050
    assert not np.isnan(trace.y).any()


def test_missing_rows_and_empty_values_are_gaps_not_zero():
    text = "timestamp,value\n2024-01-01T00:00:00Z,5\n2024-01-01T00:01:00Z,\n2024-01-01T00:02:00Z,7\n2024-01-01T00:04:00Z,9\n"
    trace = parse_trace(text)
    assert trace.step_seconds == 60
    assert list(np.isnan(trace.y)) == [False, True, False, True, False]
    assert list(trace.frame["y"]) == [5.0, 7.0, 9.0]


def test_offsets_become_naive_utc_and_unsorted_rows_are_sorted():
    text = "timestamp,value\n2024-01-01T01:05:00+01:00,2\n2024-01-01T00:00:00,1\n"
    trace = parse_trace(text)
    assert str(trace.ds[0]) == "2024-01-01 00:00:00"
    assert list(trace.y) == [1.0, 2.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,val\n", "line 1: header"),
        ("timestamp,value\n2024-01-01,1\n2024-01-01,2\n", "appears twice with different values"),
        ("timestamp,value\nyesterday,1\n2024-01-01,2\n", "line 2: timestamp 'yesterday' is not ISO-8601"),
        ("timestamp,value\n2024-01-01,abc\n2024-01-02,1\n", "line 2: value 'abc' is not a number"),
        ("timestamp,value\n2024-01-01,-1\n2024-01-02,1\n", "line 2: value -1.0 is negative"),
        ("timestamp,value\n2024-01-01,inf\n2024-01-02,1\n", "out of range"),
        ("timestamp,value\n2024-01-01,1,2\n", "expected 2 columns"),
        ("timestamp,value\n2024-01-01,1\n", "at least 2 rows"),
        (
            "timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:05:00,1\n2024-01-01T00:10:00,1\n2024-01-01T00:12:00,1\n",
            "off the 300-second grid",
        ),
    ],
)
def test_bad_traces_are_refused_with_the_reason(text, message):
    with pytest.raises(TraceError, match=message):
        parse_trace(text)


def test_exact_duplicate_rows_are_dropped():
    trace = parse_trace("timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:00:00,1\n2024-01-01T00:01:00,2\n")
    assert list(trace.y) == [1.0, 2.0]


def test_write_then_read_round_trips(tmp_path):
    trace = parse_trace("timestamp,value\n2024-01-01T00:00:00Z,1.5\n2024-01-01T00:10:00Z,2.25\n2024-01-01T00:05:00Z,\n")
    write_trace(trace, tmp_path / "t.csv")
    again = read_trace(tmp_path / "t.csv")
    assert again.step_seconds == trace.step_seconds
    np.testing.assert_array_equal(np.isnan(again.y), np.isnan(trace.y))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_parsed_or_refused_with_a_trace_error(text):
    try:
        trace = parse_trace("timestamp,value\n" + text)
    except TraceError as exc:
        assert str(exc)
    else:
        assert trace.step_seconds > 0
        assert all(math.isnan(v) or v >= 0 for v in trace.y)
