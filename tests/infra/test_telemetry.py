"""The metrics the dashboards and alarms read are the metrics the handlers emit (same names, same dimensions)."""

from __future__ import annotations

from functions.handlers import observability
from functions.services import common
from infra_cdk import telemetry


def test_metric_names_match_the_handlers_constants():
    emitted = {v for k, v in vars(common).items() if k.isupper() and isinstance(v, str) and k != "METRICS_NAMESPACE"}
    assert {spec.name for spec in telemetry.ALL_METRICS} <= emitted


def test_namespace_and_service_dimension_match_what_powertools_is_given():
    assert telemetry.NAMESPACE == common.METRICS_NAMESPACE
    assert telemetry.SERVICE == observability.SERVICE
    assert telemetry.dimensions("web") == {"service": "forescale", "TargetId": "web"}
