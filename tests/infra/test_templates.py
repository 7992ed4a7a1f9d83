"""What the synthesized templates contain: functions, layers, triggers, queues, alarms, dashboard, storage."""

from __future__ import annotations

import json
import re
from typing import Any

from events.base import event_pattern
from events.contracts import SloBreached
from functions.adapters.tables import ALL_TABLES
from functions.catalog import FUNCTIONS
from functions.domain.target import parse_targets
from functions.routing import ROUTES
from functions.settings import Settings
from infra_cdk.access import FUNCTION_ACCESS, SYNCHRONOUS, TARGETS_KEY
from tests.infra.conftest import (
    LAYER_NAMES,
    STATEFUL,
    TARGETS,
    Synthesized,
    function_ids,
    render,
)
from tests.infra.targets_asset import targets_object

SPECS = {spec.name: spec for spec in FUNCTIONS}


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def _layer_names(template: dict[str, Any]) -> dict[str, str]:
    """``layer logical id -> layer name`` from the layers' descriptions."""
    out = {}
    for logical, layer in _of_type(template, "AWS::Lambda::LayerVersion").items():
        match = re.fullmatch(r"forescale (\w+) dependencies", layer["Properties"]["Description"])
        assert match, layer["Properties"]["Description"]
        out[logical] = match.group(1)
    return out


def _asset_dir(synthesized: Synthesized, code: dict[str, Any]) -> Any:
    """The staged asset directory of a function's ``Code`` or a layer's ``Content`` (``<hash>.zip``)."""
    return synthesized.outdir / f"asset.{code['S3Key'].removesuffix('.zip')}"


def _stringify(value: Any) -> str:
    """Tokens replaced by a fixed string, so ``Settings.from_env`` sees what Lambda would (some value)."""
    return value if isinstance(value, str) else "resolved-at-deploy"


# ----------------------------------------------------------------------------------------- functions


def test_every_catalogued_function_is_deployed_with_its_memory_timeout_and_tracing(stateless):
    # GIVEN the function catalogue WHEN the stack is synthesized THEN each function exists as catalogued
    ids = function_ids(stateless)
    assert set(ids) == set(SPECS)
    for name, logical in ids.items():
        props = stateless["Resources"][logical]["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["MemorySize"] == SPECS[name].memory_mb
        assert props["Timeout"] == SPECS[name].timeout_seconds
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_every_function_is_a_python312_zip_with_exactly_its_catalogued_layers(stateless):
    layer_names = _layer_names(stateless)
    used_layers = {layer for spec in FUNCTIONS for layer in spec.layers}
    assert sorted(layer_names.values()) == sorted(used_layers)
    for name, logical in function_ids(stateless).items():
        props = stateless["Resources"][logical]["Properties"]
        assert props.get("PackageType", "Zip") == "Zip", name
        assert props["Handler"] == SPECS[name].handler
        assert props["Runtime"] == "python3.12"
        assert [layer_names[ref["Ref"]] for ref in props["Layers"]] == list(SPECS[name].layers), name


def test_layers_are_built_from_the_given_layers_directory(synthesized: Synthesized, stateless):
    # GIVEN tiny "built" layers in a temporary directory WHEN synthesized THEN each asset holds that layer
    for logical, name in _layer_names(stateless).items():
        asset_dir = _asset_dir(synthesized, stateless["Resources"][logical]["Properties"]["Content"])
        assert (asset_dir / "python" / f"built_{name}.txt").is_file()
        for layer in LAYER_NAMES:
            assert layer == name or not (asset_dir / "python" / f"built_{layer}.txt").exists()


def test_code_asset_holds_the_runtime_packages_only(synthesized: Synthesized, stateless):
    logical = function_ids(stateless)["collector"]
    asset_dir = _asset_dir(synthesized, stateless["Resources"][logical]["Properties"]["Code"])
    assert sorted(p.name for p in asset_dir.iterdir()) == ["events", "functions", "models"]
    assert (asset_dir / "functions" / "catalog.py").is_file()
    assert not list(asset_dir.rglob("tests"))
    # AND their bytecode for python3.12 (``/var/task`` is read-only: without it each cold start compiles)
    assert (asset_dir / "functions" / "__pycache__" / "catalog.cpython-312.pyc").is_file()


def test_every_function_environment_satisfies_the_settings_loader(stateless):
    # GIVEN each function's environment as deployed WHEN the handler wiring loads its settings THEN it works
    for name, logical in function_ids(stateless).items():
        env = {
            k: _stringify(v)
            for k, v in stateless["Resources"][logical]["Properties"]["Environment"]["Variables"].items()
        }
        settings = Settings.from_env(env)
        assert settings.targets_key == TARGETS_KEY
        assert settings.discovery_tag == "forescale:enabled=true"
        if name == "decider":  # the cadence's stale_after_minutes, where the staleness is judged
            assert settings.forecast_stale_seconds == 12 * 60
        assert env["POWERTOOLS_SERVICE_NAME"] == "forescale"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Forescale"
        ml = bool({"statsforecast", "lightgbm"} & set(SPECS[name].layers))
        assert (env.get("OMP_WAIT_POLICY") == "PASSIVE") is ml, name


def test_table_names_in_the_environment_are_the_stateful_stack_exports(stateless):
    env = stateless["Resources"][function_ids(stateless)["executor"]]["Properties"]["Environment"]["Variables"]
    for spec in ALL_TABLES:
        assert env[spec.env_var] == {"Fn::ImportValue": f"{STATEFUL}-{spec.logical_name}TableName"}
    assert env["BUCKET_NAME"] == {"Fn::ImportValue": f"{STATEFUL}-BucketName"}
    assert env["EVENT_BUS_NAME"] == {"Fn::ImportValue": f"{STATEFUL}-BusName"}


def test_every_import_of_the_stateless_stack_is_exported_by_the_stateful_stack(stateful, stateless):
    exported = {output["Export"]["Name"] for output in stateful["Outputs"].values() if "Export" in output}
    imported = set(re.findall(r'"Fn::ImportValue": "([^"]+)"', json.dumps(stateless)))
    assert imported
    assert imported <= exported


def test_log_groups_keep_logs_for_a_month(stateless):
    for logical in function_ids(stateless).values():
        group = stateless["Resources"][logical]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert stateless["Resources"][group]["Properties"]["RetentionInDays"] == 30


def test_targets_object_written_at_deploy_is_the_validated_configuration_with_mode_overrides(synthesized):
    # GIVEN the asset the deploy copies to the targets key THEN it holds the configuration, modes applied
    key, body = targets_object(synthesized)
    assert key == TARGETS_KEY
    targets = {t.target_id: t for t in parse_targets(body)}
    assert set(targets) == {t["target_id"] for t in TARGETS}
    assert targets["web-asg"].mode == "floor"  # from forescale:modes
    assert targets["api-ecs"].mode == "direct"
    assert targets["batch/asg:1"].mode == "forecast_only"


# ----------------------------------------------------------------------------------------- triggers


def test_collector_runs_every_minute_and_trainer_daily_through_scheduler(stateless):
    ids = function_ids(stateless)
    schedules = {
        s["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0]: s["Properties"]
        for s in _of_type(stateless, "AWS::Scheduler::Schedule").values()
    }
    assert set(schedules) == {ids["collector"], ids["trainer"]}
    assert schedules[ids["collector"]]["ScheduleExpression"] == "rate(1 minute)"
    assert schedules[ids["trainer"]]["ScheduleExpression"] == "cron(0 2 * * ? *)"
    for schedule in schedules.values():
        assert "Arn" in schedule["Target"]["DeadLetterConfig"]
        assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_each_route_has_one_rule_whose_pattern_equals_the_contract_pattern(stateless):
    ids = function_ids(stateless)
    rules = list(_of_type(stateless, "AWS::Events::Rule").values())
    for route in ROUTES:
        # GIVEN the routing table WHEN synthesized THEN the function's rule's pattern IS event_pattern(contract)
        matching = [
            r
            for r in rules
            if r["Properties"]["EventPattern"] == event_pattern(route.contract)
            and r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [ids[route.function], "Arn"]}
        ]
        assert len(matching) == 1, route
        props = matching[0]["Properties"]
        (target,) = props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [ids[route.function], "Arn"]}
        assert "Arn" in target["DeadLetterConfig"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
        assert f"{STATEFUL}-BusArn" in json.dumps(props["EventBusName"])


def test_slo_breaches_reach_the_notification_topic_as_a_message_naming_the_target(stateless):
    # GIVEN the stack WHEN the rules on the bus are read THEN one sends every SloBreached to the topic, its
    # message built from the event's target id (no alarm and no rule names a target)
    (topic,) = _of_type(stateless, "AWS::SNS::Topic")
    (rule,) = [
        r["Properties"]
        for r in _of_type(stateless, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"] == event_pattern(SloBreached)
        and r["Properties"]["Targets"][0]["Arn"] == {"Ref": topic}
    ]
    transformer = rule["Targets"][0]["InputTransformer"]
    assert "$.detail.target_id" in transformer["InputPathsMap"].values()
    assert f"{STATEFUL}-BusArn" in json.dumps(rule["EventBusName"])
    # AND the topic's key lets EventBridge (and CloudWatch alarms) encrypt what they publish
    (key,) = _of_type(stateless, "AWS::KMS::Key").values()
    principals = [st["Principal"] for st in key["Properties"]["KeyPolicy"]["Statement"]]
    assert {"Service": "events.amazonaws.com"} in principals and {"Service": "cloudwatch.amazonaws.com"} in principals


def test_asynchronous_functions_have_a_dead_letter_queue_and_bounded_retries(stateless):
    ids = function_ids(stateless)
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in _of_type(stateless, "AWS::Lambda::EventInvokeConfig").values()
    }
    for name, logical in ids.items():
        props = stateless["Resources"][logical]["Properties"]
        if FUNCTION_ACCESS[name].trigger in SYNCHRONOUS:
            assert "DeadLetterConfig" not in props
            continue
        queue = props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
        assert stateless["Resources"][queue]["Type"] == "AWS::SQS::Queue"
        assert configs[logical]["MaximumRetryAttempts"] == 2
        assert configs[logical]["MaximumEventAgeInSeconds"] == 60 * FUNCTION_ACCESS[name].max_event_age_minutes


def test_operator_api_is_a_function_url_with_iam_auth(stateless):
    (url,) = _of_type(stateless, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [function_ids(stateless)["api"], "Arn"]}


# ----------------------------------------------------------------------------------------- alarms


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in _of_type(template, "AWS::CloudWatch::Alarm").values()]


def _alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads (``MetricName``, ``Namespace``, ``Dimensions``), whichever form it uses."""
    if "MetricName" in alarm:
        return [{k: alarm[k] for k in ("MetricName", "Namespace", "Dimensions") if k in alarm}]
    return [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]


def test_pipeline_stale_alarm_fires_when_no_forecast_reaches_the_decider(stateless):
    ids = function_ids(stateless)
    (stale,) = [a for a in _alarms(stateless) if "no forecast" in a.get("AlarmDescription", "")]
    (metric,) = _alarm_metrics(stale)
    assert metric["MetricName"] == "Invocations"
    assert metric["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": ids["decider"]}}]
    assert stale["ComparisonOperator"] == "LessThanThreshold"
    assert stale["EvaluationPeriods"] == stale["DatapointsToAlarm"] == 12
    assert stale["TreatMissingData"] == "breaching"


def test_pipeline_alarms_notify_the_topic_and_cover_every_dead_letter_queue(stateless):
    topics = list(_of_type(stateless, "AWS::SNS::Topic"))
    queues = set(_of_type(stateless, "AWS::SQS::Queue"))
    alarms = _alarms(stateless)
    dlq_alarms = {
        metric["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in alarms
        for metric in _alarm_metrics(alarm)
        if metric["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert dlq_alarms == queues
    executor = [a for a in alarms if "executor failed" in a.get("AlarmDescription", "")]
    assert len(executor) == 1
    assert {m["MetricName"] for m in _alarm_metrics(executor[0])} == {"Errors", "ScalingFailures"}
    # a forged or corrupt decision refused by the executor is an alarm of its own, on the metric it emits
    (forged,) = [a for a in alarms if "never recorded" in a.get("AlarmDescription", "")]
    (metric,) = _alarm_metrics(forged)
    assert metric["MetricName"] == "DecisionsUnrecorded" and metric["Namespace"] == "Forescale"
    assert metric["Dimensions"] == [{"Name": "service", "Value": "forescale"}]
    assert forged["Threshold"] == 1 and forged["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for alarm in alarms:  # every alarm notifies, none is named (per target) for a responder
        assert alarm["AlarmActions"] == [{"Ref": topics[0]}] and "AlarmName" not in alarm


def test_fleet_alarms_on_slo_breaches_and_forecast_error_read_fleet_metrics(stateless):
    # GIVEN the stack THEN SLO breaches and the forecast error are alarms on fleet metrics (service dimension
    # only), the forecast error's at the construct's threshold
    alarms = _alarms(stateless)
    fleet = {"Name": "service", "Value": "forescale"}
    (breaches,) = [a for a in alarms if any(m["MetricName"] == "SloBreaches" for m in _alarm_metrics(a))]
    assert _alarm_metrics(breaches)[0]["Dimensions"] == [fleet] and breaches["Threshold"] == 1
    (error,) = [a for a in alarms if any(m["MetricName"] == "ForecastErrorPercent" for m in _alarm_metrics(a))]
    assert _alarm_metrics(error)[0]["Dimensions"] == [fleet] and error["Threshold"] == 35
    assert error["EvaluationPeriods"] == 3 and error["Metrics"][0]["MetricStat"]["Period"] == 3600
    assert "TargetId" not in json.dumps(alarms)


# ----------------------------------------------------------------------------------------- dashboard


def _dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = _of_type(template, "AWS::CloudWatch::Dashboard").values()
    return json.loads(render(dashboard["Properties"]["DashboardBody"]))


def test_the_dashboards_custom_widget_is_the_widget_function_with_the_error_threshold(stateless):
    # GIVEN the dashboard WHEN its custom widgets are listed THEN there is one, calling the widget function with
    # the forecast error alarm's threshold (the targets' views come from it, not from one widget per target)
    (custom,) = [w for w in _dashboard_body(stateless)["widgets"] if w["type"] == "custom"]
    assert custom["properties"]["params"] == {"forecastErrorThresholdPercent": 35}
    (dashboard,) = _of_type(stateless, "AWS::CloudWatch::Dashboard").values()
    assert {"Fn::GetAtt": [function_ids(stateless)["widget"], "Arn"]} in dashboard["Properties"]["DashboardBody"][
        "Fn::Join"
    ][1]


def test_dashboard_has_pipeline_health_and_fleet_widgets_and_no_per_target_widget(stateless):
    body = json.dumps(_dashboard_body(stateless))
    for title in ("Invocations", "Errors", "Duration p95 (ms)", "Dead-letter queue depth", "forecast at decision"):
        assert title in body
    for metric in ("SloBreaches", "TargetsOverSlo", "StaleTargets", "SloBudgetOverspent", "ForecastErrorPercent"):
        assert f'"{metric}"' in body, metric
    # GIVEN the configured targets THEN no widget names one: per-target views come from the custom widget
    for target in TARGETS:
        assert target["target_id"] not in body
    assert "TargetId" not in body


# ----------------------------------------------------------------------------------------- storage


def test_tables_follow_their_specs_with_pitr_ttl_encryption_and_on_demand(stateful):
    tables = _of_type(stateful, "AWS::DynamoDB::Table")
    assert len(tables) == len(ALL_TABLES)
    by_key = {}
    for logical, table in tables.items():
        by_key[logical] = table
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain"
    for spec in ALL_TABLES:
        (table,) = [t for logical, t in tables.items() if logical.startswith(f"Storage{spec.logical_name}Table")]
        props = table["Properties"]
        keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
        assert keys.get("HASH") == spec.partition_key and keys.get("RANGE") == spec.sort_key
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props


def test_bucket_is_versioned_encrypted_private_logged_and_has_lifecycle_rules(stateful):
    (bucket,) = [b for k, b in _of_type(stateful, "AWS::S3::Bucket").items() if k.startswith("StorageBucket")]
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "DestinationBucketName" in props["LoggingConfiguration"]
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert {"abort-incomplete-uploads", "history", "models"} <= set(rules)
    assert bucket["DeletionPolicy"] == "Retain"
    # the audit trail's own bucket: its lifecycle moves records to cheaper storage, never expires them
    (audit,) = [b for k, b in _of_type(stateful, "AWS::S3::Bucket").items() if k.startswith("StorageAuditBucket")]
    audit_rules = {rule["Id"]: rule for rule in audit["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert "ExpirationInDays" not in audit_rules["audit-to-infrequent-access"]
    assert "DestinationBucketName" in audit["Properties"]["LoggingConfiguration"]
    assert audit["DeletionPolicy"] == "Retain"


def test_bus_has_the_name_people_type_in_put_events(stateful):
    from infra_cdk.names import default_bus_name

    (bus,) = _of_type(stateful, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == default_bus_name(STATEFUL)


def test_bus_is_archived_for_replay_of_every_forescale_source(stateful):
    from events.contracts import ALL_CONTRACTS

    (archive,) = _of_type(stateful, "AWS::Events::Archive").values()
    assert sorted(archive["Properties"]["EventPattern"]["source"]) == sorted({c.SOURCE for c in ALL_CONTRACTS})
    assert archive["Properties"]["RetentionDays"] == 30
