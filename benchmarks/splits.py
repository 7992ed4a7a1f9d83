"""The shared traces split once into a tuning half and an evaluation half.

Defaults of the engine and of the decisions are tuned on :data:`TUNING` only; :data:`EVALUATION` tells
whether they hold on traffic nobody tuned for. Both halves are reported by benchmarks/replay.py and
benchmarks/forecast_accuracy.py (``--half``).

The traces: every shared trace spanning at least 14 days (the span issue 18's targets apply to), so
``alibaba2018_cpu`` (7.8 days) is left out. The rule, stated and applied before any result of either
half was looked at: sort the traces by (step, kind, name) and deal them alternately, the first to tuning,
the second to evaluation, and so on. Alternating within that order puts every kind and step that has more
than one trace in both halves; ``ec2_network_in_257a54`` is the only network trace, and the only
30-minute one is ``nyc_taxi``, so each of them is in one half only. :func:`split_by_rule` applies the rule
and a test checks it gives the halves written here: change neither without the other, and never by score.
"""

from __future__ import annotations

from typing import NamedTuple

from benchmarks.traces import TRACES
from functions.domain.trace import Trace


class TraceFacts(NamedTuple):
    """What the rule sorts on: the trace's step and what it measures (requests, cpu or network)."""

    step_seconds: int
    kind: str


#: Every trace of the split; names are those of benchmarks.traces.TRACES.
FACTS: dict[str, TraceFacts] = {
    "aiops_6d1114ae": TraceFacts(60, "requests"),
    "aiops_ffb82d38": TraceFacts(60, "requests"),
    "twitter_stream_2021": TraceFacts(60, "requests"),
    "asg_misconfiguration": TraceFacts(300, "cpu"),
    "azure2019_cpu": TraceFacts(300, "cpu"),
    "bitbrains_228": TraceFacts(300, "cpu"),
    "bitbrains_407": TraceFacts(300, "cpu"),
    "bitbrains_411": TraceFacts(300, "cpu"),
    "ec2_cpu_53ea38": TraceFacts(300, "cpu"),
    "ec2_cpu_5f5533": TraceFacts(300, "cpu"),
    "google2019_cpu": TraceFacts(300, "cpu"),
    "grok_asg_anomaly": TraceFacts(300, "cpu"),
    "rds_cpu_cc0c53": TraceFacts(300, "cpu"),
    "rds_cpu_e47b3b": TraceFacts(300, "cpu"),
    "ec2_network_in_257a54": TraceFacts(300, "network"),
    "elb_requests_8c0756": TraceFacts(300, "requests"),
    "twitter_amzn": TraceFacts(300, "requests"),
    "twitter_goog": TraceFacts(300, "requests"),
    "nyc_taxi": TraceFacts(1800, "requests"),
}

TUNING: tuple[str, ...] = (
    "aiops_6d1114ae",
    "twitter_stream_2021",
    "azure2019_cpu",
    "bitbrains_407",
    "ec2_cpu_53ea38",
    "google2019_cpu",
    "rds_cpu_cc0c53",
    "ec2_network_in_257a54",
    "twitter_amzn",
    "nyc_taxi",
)
EVALUATION: tuple[str, ...] = (
    "aiops_ffb82d38",
    "asg_misconfiguration",
    "bitbrains_228",
    "bitbrains_411",
    "ec2_cpu_5f5533",
    "grok_asg_anomaly",
    "rds_cpu_e47b3b",
    "elb_requests_8c0756",
    "twitter_goog",
)
HALVES: dict[str, tuple[str, ...]] = {"tuning": TUNING, "evaluation": EVALUATION}


def split_by_rule(facts: dict[str, TraceFacts]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The module's rule: sorted by (step, kind, name), dealt alternately to tuning and evaluation."""
    ordered = sorted(facts, key=lambda name: (facts[name].step_seconds, facts[name].kind, name))
    return tuple(ordered[0::2]), tuple(ordered[1::2])


def half(name: str) -> tuple[str, ...]:
    """The traces of a half by its name, for ``--half``."""
    if name not in HALVES:
        raise ValueError(f"--half: {name!r} is not one of {', '.join(HALVES)}")
    return HALVES[name]


def half_of(trace: str) -> str | None:
    """The half a trace is in, or None for a trace outside the split."""
    return next((label for label, names in HALVES.items() if trace in names), None)


def load(name: str) -> Trace:
    """A trace by name (benchmarks.traces.TRACES); for a trace of the split, its step checked against :data:`FACTS`."""
    if name not in TRACES:
        raise ValueError(f"--traces: unknown trace {name!r}; known: {', '.join(sorted(TRACES))}")
    trace = TRACES[name]()
    facts = FACTS.get(name)
    if facts is not None and trace.step_seconds != facts.step_seconds:
        raise ValueError(
            f"{name}: step {trace.step_seconds} s, but the split records {facts.step_seconds} s: the file changed"
        )
    return trace
