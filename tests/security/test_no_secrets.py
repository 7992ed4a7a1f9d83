"""No secret or credential in code, samples, configuration, logs, the audit trail or dead letters."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import boto3

from forescale_tools.local_router import LocalRouter
from functions.handlers import observability
from tests.security.credential_scan import REPO, findings_in, scan_repository
from tests.support.function_url import call
from tests.support.world import CHEAP, NOON, World

#: Credentials of the run, recognisable wherever they would leak (shaped like real ones).
#: (built by concatenation so that this file itself holds nothing the repository scan would find)
ACCESS_KEY = "AKIA" + "FSCALE7LOGTEST0Q"
SECRET_KEY = "fOReScALe/NeverLog/ThisSecret+0123456789"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEForescaleSessionTokenThatMustNeverBeLogged" + "A" * 120


def test_the_scanner_finds_planted_credentials_and_allows_documentation_examples():
    # GIVEN text with one credential of each kind, and the documentation's example key (assembled here so
    # that this file holds none of them)
    planted = "\n".join(
        [
            "key = " + "AKIA" + "Z7QW4RTY5UIO3PAS",
            "aws_secret_access_key" + " = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz",
            "-----BEGIN RSA " + "PRIVATE KEY-----",
            "token " + "ghp_" + "a1B2c3D4e5" * 4,
            "url = https://admin:" + "hunter22@db.internal/x",
            "doc = " + "AKIA" + "IOSFODNN7EXAMPLE",
        ]
    )
    # THEN each credential is found once, and the example key is not
    kinds = sorted(f.kind for f in findings_in(planted, "planted"))
    assert kinds == sorted(
        ["AWS access key id", "AWS secret access key", "private key", "GitHub token", "password in a URL"]
    )


def test_no_credential_in_code_samples_or_configuration(figures):
    # GIVEN every file git would commit (code, event samples, cdk.json, docs, scripts)
    scanned, found = scan_repository()
    assert (REPO / "events" / "samples" / "BusinessEvent.json").exists()
    figures.add(
        "security",
        "no credential in code, samples, configuration",
        checks=1,
        evaluated=scanned,
        unit="committed files",
        violations=len(found),
    )
    # THEN none holds a credential
    assert scanned > 100
    assert not found, "\n".join(f"{f.where}: {f.kind}: {f.excerpt}" for f in found)


def test_no_credential_in_logs_audit_trail_bus_events_or_dead_letters(
    world: World, figures, capfd, caplog, monkeypatch
):
    # GIVEN the functions run with recognisable credentials, Powertools logging at DEBUG (the most an
    # operator can turn on) and the runtime's root logger at its default (WARNING)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a fresh session reads the credentials above
    world.rewire(sleep=world.sleep, forecast_config=CHEAP)  # clients built afresh, with the credentials above
    previous = observability.logger.log_level
    observability.logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG, logger=observability.logger.name)
    try:
        targets = world.add_asg_targets(2, desired=10)
        for target in targets:
            world.seed_history(target.target_id, 3000.0, until=NOON)
            world.put_load(target, NOON - timedelta(minutes=5), 3000.0)
        router = LocalRouter(world.aws.transport())
        # ... with failures on the way: every capacity change of t1 throttled, an invalid business event,
        # invalid API requests
        world.proxy.inject("throttle", "autoscaling", "SetDesiredCapacity", times=1000)
        signed: list[str] = []
        world.proxy.inject(
            "before", "dynamodb", times=1, action=lambda r: signed.append(r.headers.get("Authorization", ""))
        )
        world.clock.current = NOON + timedelta(seconds=10)
        deliveries = [router.invoke("collector", {}), *router.pump()]
        bad_event = world.envelope_of_detail(
            "BusinessEvent", "forescale.business", {"name": "x", "event_type": "BAD TYPE", "targets": ["t0"]}
        )
        deliveries.append(router.invoke("intake", bad_event))
        answers = [call("GET", "/targets/nope/decisions"), call("POST", "/events", body=json.dumps({"name": 1}))]
    finally:
        observability.logger.setLevel(previous)
    # WHEN everything the system wrote is collected: logs, results, errors, audit trail, bus events
    out, err = capfd.readouterr()
    written: dict[str, str] = {
        "stdout": out,
        "stderr": err,
        "log records": "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records),
        "results and errors": json.dumps([(d.function, d.result, repr(d.error)) for d in deliveries], default=str),
        "dead letters": json.dumps([repr(d.error) for d in router.dead_letters]),
        "api answers": json.dumps(answers, default=str),
    }
    s3 = world.aws.client("s3")
    for item in s3.list_objects_v2(Bucket=world.aws.bucket).get("Contents", []):
        written[f"s3://{item['Key']}"] = (
            s3.get_object(Bucket=world.aws.bucket, Key=item["Key"])["Body"].read().decode(errors="replace")
        )
    dynamodb = world.aws.client("dynamodb")
    for table in (*world.aws.table_names().__dict__.values(), world.aws.idempotency_table):
        written[f"dynamodb:{table}"] = json.dumps(dynamodb.scan(TableName=table)["Items"], default=str)
    # THEN the run signed its requests with these credentials and did what it should (a scale-out, a
    # failure, a rejection) ...
    assert signed and f"Credential={ACCESS_KEY}/" in signed[0]
    functions = [d.function for d in deliveries]
    assert {"collector", "forecaster", "decider", "executor", "intake"} <= set(functions)
    assert any(d.function == "intake" and d.error is not None for d in deliveries)
    assert len(out) + len(caplog.records) > 0, "nothing was logged: the check would be empty"
    # ... and no credential appears anywhere
    leaks = [
        (where, secret[:8])
        for where, text in written.items()
        for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
        if secret in text
    ]
    patterns = [f for where, text in written.items() for f in findings_in(text, where)]
    figures.add(
        "security",
        "no credential in logs, audit trail, bus events, dead letters",
        checks=1,
        evaluated=len(written),
        unit="outputs of the run (logs, results, S3 objects, tables...)",
        violations=len(leaks) + len(patterns),
    )
    assert not leaks, leaks
    assert not patterns, patterns
