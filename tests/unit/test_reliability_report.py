"""The reliability table (docs/reliability.md): each figure says what it counts, and only what the run measured."""

from __future__ import annotations

import pytest

from tests.support import report
from tests.support.figures import ENV, Figures
from tests.support.report import render, summarise


@pytest.fixture
def figures_of(tmp_path, monkeypatch):
    """Figures written by tests, read back as the report reads them."""
    monkeypatch.setenv(ENV, str(tmp_path))
    monkeypatch.setattr(report, "FIGURES", tmp_path)

    def load(*tests: Figures) -> dict:
        for one in tests:
            one.write()
        return report.load_figures()

    return load


def test_faults_are_shown_as_survived_contained_and_lost(figures_of):
    # GIVEN three throttle injections: one whose event succeeded, one dead-lettered, one lost
    one = Figures("t")
    for outcome, responses in (("survived", 1), ("contained", 9), ("lost", 2)):
        counts = {o: int(o == outcome) for o in ("survived", "contained", "lost")}
        one.add("faults", "executor/throttle", handler="executor", kind="throttle", injections=1,
                responses=responses, **counts)  # fmt: skip
    # WHEN the table is rendered
    table = render(summarise(figures_of(one)), None, None)
    # THEN the three outcomes are apart, and the faulted responses are not counted as injections
    assert "| fault injections | 3 | 1 survived, 1 contained, 1 lost (12 faulted responses)" in table
    assert "| throttling | 3 | 12 | 1 | 1 | 1 | executor |" in table


def test_security_counts_distinct_properties_and_what_they_were_evaluated_over(figures_of):
    # GIVEN one property checked by two parametrized tests' rows and one checked over 8 x 52 evaluations
    first, second = Figures("a"), Figures("b")
    for test in (first, second):
        test.add("security", "capacity", checks=1, properties=["asg web"], evaluated=16, unit="evaluations",
                 violations=0)  # fmt: skip
    first.add("security", "dangerous", checks=52, evaluated=416, unit="(role, request) evaluations", violations=0)
    summary = summarise(figures_of(first, second))
    table = render(summary, None, None)
    # THEN the total counts properties (2 + 52), the rows say what they were evaluated over
    assert summary["totals"]["security_properties"] == 54
    assert summary["security"]["capacity"]["properties"] == ["asg web"]
    assert "| dangerous | 52 | 416 (role, request) evaluations | 0 |" in table


def test_invariants_count_examples_and_named_checks_apart(figures_of):
    one = Figures("t")
    for _ in range(60):
        one.add("invariants", "executor: capacity within bounds", examples=1, violations=0)
    one.add("invariants", "kill switch", examples=1, checks=7, violations=0)
    table = render(summarise(figures_of(one)), None, None)
    assert "| invariants | 2 | 61 examples run (7 named checks in the scenario tests), 0 violations |" in table
    assert "| kill switch | 1 | 7 | 0 |" in table


def test_the_run_line_prints_only_what_was_measured():
    tests = {"tests": 5, "failures": 0, "errors": 0, "skipped": 0}
    measured = render(summarise({}), tests, {"seconds": 81.4, "cpus": 2})
    assert measured.endswith("5 tests, all passed in 81 s of wall time on a machine with 2 CPUs.")
    assert "contention" not in measured
    # a table printed without a run (figures only) claims no time at all
    assert render(summarise({}), tests, None).endswith("5 tests, all passed.")
