"""Run the reliability, security and fuzz tests and print the "Reliability and security" table of docs/reliability.md.

    .venv/bin/python -m tests.support.report            # run the tests, then print the table
    .venv/bin/python -m tests.support.report --no-run   # print from the figures of the last run
    .venv/bin/python -m tests.support.report --readme   # ... and put the table into docs/reliability.md

The tests record what they measured (``tests/support/figures.py``) under ``out/reliability/figures/``;
this script clears that directory, runs pytest on ``tests/reliability tests/security tests/fuzz``,
adds the figures up and writes ``out/reliability/summary.json`` and ``out/reliability/table.md``. It
exits non-zero when a test failed, and says so in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from typing import Any

from tests.support.figures import ENV, REPO, merged

OUT = REPO / "out" / "reliability"
FIGURES = OUT / "figures"
TEST_PATHS = ("tests/reliability", "tests/security", "tests/fuzz")
COMMAND = "python -m tests.support.report"
README = REPO / "docs" / "reliability.md"
START, END = "<!-- reliability-table:start -->", "<!-- reliability-table:end -->"
KIND_NAMES = {
    "throttle": "throttling",
    "server_error": "5xx",
    "timeout": "timeout",
    "reset": "connection reset",
    "partial_put_events": "partial PutEvents failure",
    "conflict": "DynamoDB conditional-check conflict",
    "late metric": "missing or late metric",
    "missing or corrupt model artifact": "missing or corrupt model artifact",
}


def run_tests() -> tuple[int, dict[str, int], float]:
    shutil.rmtree(FIGURES, ignore_errors=True)
    FIGURES.mkdir(parents=True)
    junit = OUT / "junit.xml"
    env = {**os.environ, ENV: str(FIGURES), "OMP_WAIT_POLICY": "PASSIVE"}
    started = time.monotonic()
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *TEST_PATHS],
        cwd=REPO,
        env=env,
    )
    seconds = time.monotonic() - started
    suite = ElementTree.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return code, counts, seconds


def load_figures() -> dict[str, dict[str, dict[str, Any]]]:
    """Every test's rows, added up: ``table -> row -> column -> value``."""
    total: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for path in sorted(FIGURES.glob("*.json")):
        document = json.loads(path.read_text())
        for table, rows in document["rows"].items():
            for name, values in rows.items():
                row = total[table][name]
                for key, value in values.items():
                    row[key] = merged(row.get(key), value)
    return total


def _sum(rows: dict[str, dict[str, Any]], column: str) -> int:
    return int(sum(row.get(column, 0) for row in rows.values()))


def summarise(figures: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    outcomes = ("survived", "contained", "lost")
    faults: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"injections": 0, "responses": 0, **dict.fromkeys(outcomes, 0), "handlers": set()}
    )
    for row in figures.get("faults", {}).values():
        kind = KIND_NAMES.get(row["kind"], row["kind"])
        for column in ("injections", "responses", *outcomes):
            faults[kind][column] += int(row.get(column, 0))
        faults[kind]["handlers"].add(row["handler"])
    events = figures.get("events", {})
    fuzz = figures.get("fuzz", {})
    invariants = figures.get("invariants", {})
    security = figures.get("security", {})
    for row in security.values():  # names of the properties checked, each once
        if "properties" in row:
            row["properties"] = sorted(set(row["properties"]))
    return {
        "faults": {k: {**v, "handlers": sorted(v["handlers"])} for k, v in sorted(faults.items())},
        "events": {k: dict(v) for k, v in sorted(events.items())},
        "fuzz": {k: dict(v) for k, v in sorted(fuzz.items())},
        "invariants": {k: dict(v) for k, v in sorted(invariants.items())},
        "security": {k: dict(v) for k, v in sorted(security.items())},
        "load": {k: dict(v) for k, v in sorted(figures.get("load", {}).items())},
        "totals": {
            "injections": sum(v["injections"] for v in faults.values()),
            "faulted_responses": sum(v["responses"] for v in faults.values()),
            **{o: sum(v[o] for v in faults.values()) for o in outcomes},
            "events": _sum(events, "inputs"),
            "events_lost": _sum(events, "lost"),
            "inputs_fuzzed": _sum(fuzz, "inputs"),
            "crashes": _sum(fuzz, "crashes"),
            "refused": _sum(fuzz, "refused"),
            "invariants": len(invariants),
            "examples": _sum(invariants, "examples"),
            "scenario_checks": _sum(invariants, "checks"),
            "violations": _sum(invariants, "violations"),
            "security_properties": _sum(security, "checks"),
            "security_violations": _sum(security, "violations"),
        },
    }


def render(summary: dict[str, Any], tests: dict[str, int] | None, run: dict[str, Any] | None) -> str:
    """The table; ``run``: what was measured of the run (``seconds`` of wall time, ``cpus`` visible)."""
    t = summary["totals"]
    lines = [
        "| | count | outcome |",
        "|---|---:|---|",
        f"| fault injections | {t['injections']:,} | {t['survived']:,} survived, {t['contained']:,} contained, "
        f"{t['lost']} lost ({t['faulted_responses']:,} faulted responses); {t['events_lost']} of {t['events']} "
        "input events lost |",
        f"| inputs fuzzed | {t['inputs_fuzzed']:,} | {t['crashes']} crashes; {t['refused']:,} refused, each naming "
        "the field and the reason |",
        f"| invariants | {t['invariants']} | {t['examples']:,} examples run ({t['scenario_checks']} named checks in "
        f"the scenario tests), {t['violations']} violations |",
        f"| security properties | {t['security_properties']:,} | {t['security_violations']} violations |",
    ]
    for name, row in summary["load"].items():
        lines.append(
            f"| load: {name} | {row['events']:,} events | {row['handled']:,} handled, {row['dead_letters']} "
            f"dead-lettered; traced memory during the burst: peak {row['traced_peak_mib']} MiB, growth over its "
            f"second half {row['growth_second_half_mib']:+} MiB |"
        )
    lines += [
        "",
        "Fault injections, by kind:",
        "",
        "| fault | injections | faulted responses | survived | contained | lost | handlers |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for kind, row in summary["faults"].items():
        lines.append(
            f"| {kind} | {row['injections']:,} | {row['responses']:,} | {row['survived']:,} | {row['contained']:,} | "
            f"{row['lost']:,} | {', '.join(row['handlers'])} |"
        )
    lines += [
        "",
        "Where every input event ended, by handler:",
        "",
        "| handler | inputs | succeeded | reported failed | pending retry | dead-lettered | refused to the caller "
        "| lost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in summary["events"].items():
        lines.append(
            f"| {name} | {row['inputs']} | {row['succeeded']} | {row.get('reported_failed', 0)} | {row['pending']} | "
            f"{row['dead_lettered']} | {row.get('returned', 0)} | {row['lost']} |"
        )
    lines += [
        "",
        "Fuzzed inputs:",
        "",
        "| input | fuzzed | refused | crashes | reached the engine |",
        "|---|---:|---:|---:|---|",
    ]
    fuzz_groups: dict[str, dict[str, Any]] = defaultdict(lambda: {"inputs": 0, "refused": 0, "crashes": 0})
    for name, row in summary["fuzz"].items():
        group = name.split(" GET ")[0].split(" POST ")[0] if name.startswith("operator API ") else name
        for column in ("inputs", "refused", "crashes"):
            fuzz_groups[group][column] += int(row.get(column, 0))
        if "engine" in row:
            fuzz_groups[group]["reached"] = f"{int(row.get('reached', 0)):,} ({row['engine']})"
    for name, row in sorted(fuzz_groups.items()):
        reached = row.get("reached", "")
        lines.append(f"| {name} | {row['inputs']:,} | {row['refused']:,} | {row['crashes']} | {reached} |")
    lines += [
        "",
        "Invariants:",
        "",
        "| invariant | examples run | named checks | violations |",
        "|---|---:|---:|---:|",
    ]
    for name, row in summary["invariants"].items():
        checks = f"{row['checks']:,}" if "checks" in row else ""
        lines.append(f"| {name} | {row.get('examples', 0):,} | {checks} | {row['violations']} |")
    lines += [
        "",
        "Security:",
        "",
        "| property checked | properties | evaluated over | violations |",
        "|---|---:|---|---:|",
    ]
    defaults: list[str] = []
    for name, row in summary["security"].items():
        over = f"{row['evaluated']:,} {row.get('unit', '')}".strip() if "evaluated" in row else ""
        lines.append(f"| {name} | {row['checks']:,} | {over} | {row['violations']} |")
        defaults += row.get("service_default", [])
    if defaults:
        lines += [
            "",
            f"Not counted as checks: {', '.join(defaults)}, encrypted at rest by the service with AWS-owned keys "
            "by default; the templates name no customer key for them, so there is nothing to judge.",
        ]
    if tests is not None:
        failed = tests["failures"] + tests["errors"]
        verdict = "all passed" if failed == 0 else f"**{failed} FAILED**"
        skipped = f", {tests['skipped']} skipped" if tests.get("skipped") else ""
        measured = ""
        if run and run.get("seconds"):
            cpus = f" on a machine with {run['cpus']} CPUs" if run.get("cpus") else ""
            measured = f" in {run['seconds']:.0f} s of wall time{cpus}"
        lines += ["", f"Produced by `{COMMAND}`: {tests['tests']} tests, {verdict}{skipped}{measured}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-run", action="store_true", help="print from the figures of the last run")
    parser.add_argument("--readme", action="store_true", help=f"replace the table between {START} and {END}")
    args = parser.parse_args(argv)
    code, tests, run = 0, None, None
    if not args.no_run:
        code, tests, seconds = run_tests()
        run = {"seconds": seconds, "cpus": os.cpu_count()}
    elif (OUT / "summary.json").exists():  # the figures are the last run's: so are its test counts
        last = json.loads((OUT / "summary.json").read_text())
        tests, run = last.get("tests"), last.get("run")
    summary = summarise(load_figures())
    table = render(summary, tests, run)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.json").write_text(json.dumps({**summary, "tests": tests, "run": run}, indent=1))
    (OUT / "table.md").write_text(table + "\n")
    print(table)
    if args.readme:
        text = README.read_text()
        if START not in text or END not in text:
            print(f"docs/reliability.md has no {START} ... {END} block", file=sys.stderr)
            return 2
        head, rest = text.split(START, 1)
        README.write_text(f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
