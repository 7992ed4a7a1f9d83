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
    assert telemetry.dimensions() == {"service": "forescale"}


def test_no_metric_the_services_emit_names_a_target():
    # GIVEN the services' sources WHEN every metric call is read THEN none passes a target id: a custom metric
    # per target per figure would make the bill grow with the fleet (the stored records keep per-target data)
    import ast
    from pathlib import Path

    for path in sorted(Path(common.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "emit":
                assert not [k for k in node.keywords if k.arg == "target_id"], f"{path.name}:{node.lineno}"
