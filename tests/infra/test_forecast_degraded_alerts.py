"""The per-target forecast error alert as deployed: one fleet alarm, one rule to the topic, the decider's threshold.

No resource names a target: the decider publishes ``ForecastDegraded`` naming it, one rule sends every such
event to the notification topic, and one alarm reads the fleet count ``ForecastsDegraded``.
"""

from __future__ import annotations

import json
from typing import Any

from events.base import event_pattern
from events.contracts import ForecastDegraded
from functions.settings import Settings
from tests.infra.conftest import STATEFUL, TARGETS, function_ids


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def test_degraded_forecasts_reach_the_notification_topic_as_a_message_naming_the_target(stateless):
    # GIVEN the stack WHEN the rules on the bus are read THEN one sends every ForecastDegraded to the topic,
    # its message built from the event's target id and figures
    (topic,) = _of_type(stateless, "AWS::SNS::Topic")
    (rule,) = [
        r["Properties"]
        for r in _of_type(stateless, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"] == event_pattern(ForecastDegraded)
    ]
    assert rule["Targets"][0]["Arn"] == {"Ref": topic}
    paths = set(rule["Targets"][0]["InputTransformer"]["InputPathsMap"].values())
    assert {"$.detail.target_id", "$.detail.error_percent", "$.detail.threshold_percent"} <= paths
    assert f"{STATEFUL}-BusArn" in json.dumps(rule["EventBusName"])
    # AND its pattern lists no target (the same rule for any fleet)
    assert not any(t["target_id"] in json.dumps(rule["EventPattern"]) for t in TARGETS)


def test_one_fleet_alarm_counts_the_degraded_targets_and_notifies_the_topic(stateless):
    # GIVEN the stack WHEN the alarms are read THEN one reads ForecastsDegraded of the fleet (service dimension
    # only): any target degraded in 5 minutes raises it, and it notifies the topic when it fires and clears
    (topic,) = _of_type(stateless, "AWS::SNS::Topic")
    (alarm,) = [
        a["Properties"]
        for a in _of_type(stateless, "AWS::CloudWatch::Alarm").values()
        if "ForecastsDegraded" in json.dumps(a["Properties"].get("Metrics"))
    ]
    (read,) = alarm["Metrics"]
    metric = read["MetricStat"]["Metric"]
    assert metric == {
        "Namespace": "Forescale",
        "MetricName": "ForecastsDegraded",
        "Dimensions": [{"Name": "service", "Value": "forescale"}],
    }
    assert read["MetricStat"]["Stat"] == "Maximum" and read["MetricStat"]["Period"] == 300
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": topic}] and alarm["OKActions"] == [{"Ref": topic}]
    assert "35%" in alarm["AlarmDescription"]


def test_the_decider_gets_the_threshold_and_may_publish_the_event(stateless):
    # GIVEN the decider as deployed WHEN its settings are loaded THEN its threshold is the stack's (35 %)
    logical = function_ids(stateless)["decider"]
    variables = stateless["Resources"][logical]["Properties"]["Environment"]["Variables"]
    assert variables["FORESCALE_FORECAST_ERROR_THRESHOLD_PERCENT"] == "35.0"
    env = {k: v if isinstance(v, str) else "resolved-at-deploy" for k, v in variables.items()}
    assert Settings.from_env(env).forecast_error_threshold_percent == 35.0
    # AND its role may put ForecastDegraded on the bus
    role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in _of_type(stateless, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    puts = [s for statements in policies for s in statements if s["Action"] == "events:PutEvents"]
    assert puts and "ForecastDegraded" in puts[0]["Condition"]["StringEquals"]["events:detail-type"]
