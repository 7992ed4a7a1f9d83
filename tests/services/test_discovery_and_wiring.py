"""Target discovery from tags (parsing, and against moto's server), the catalogue, and the wiring's boundaries."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from service_support import target

from forescale_tools.local_router import LocalAws
from forescale_tools.memory import InMemoryObjects, InMemoryStateStore
from functions import wiring
from functions.adapters.discovery import AwsTagDiscovery, StaticDiscovery, parse_tag_filter, target_from_tags
from functions.catalog import FUNCTIONS
from functions.catalog import LIGHT as LIGHT_LAYERS
from functions.domain.clock import FixedClock, SequentialIds
from functions.services import common
from functions.services.targets import TargetCatalog
from functions.settings import Settings
from functions.wiring import Components

METRIC_TAGS = {
    "forescale:enabled": "true",
    "forescale:metric.namespace": "AWS/ApplicationELB",
    "forescale:metric.name": "RequestCount",
    "forescale:metric.dimensions": "LoadBalancer=app/web/1",
    "forescale:capacity_per_instance": "120",
    "forescale:max_capacity": "40",
    "forescale:mode": "floor",
    "team": "shop",
    "aws:cloudformation:stack-name": "x",
}


def test_target_from_tags_reads_every_kind_of_tag():
    found = target_from_tags("asg", {"asg_name": "web-asg"}, METRIC_TAGS)
    assert found.target_id == "web-asg" and found.mode == "floor" and found.max_capacity == 40
    assert found.capacity_per_instance == 120.0 and found.metric.dimensions == {"LoadBalancer": "app/web/1"}
    assert found.tags == {"team": "shop"}
    json_metric = {
        "forescale:metric": json.dumps({"namespace": "N", "name": "M"}),
        "forescale:max_capacity": "5",
        "forescale:capacity_per_instance": "10",
    }
    assert target_from_tags("ecs", {"ecs_cluster": "c", "ecs_service": "s"}, json_metric).target_id == "c/s"


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"forescale:max_capacity": "5"}, "metric: tag forescale:metric"),
        ({**METRIC_TAGS, "forescale:max_capacity": "lots"}, "max_capacity"),
        ({**METRIC_TAGS, "forescale:metric": "{nope"}, "metric: tag forescale:metric is not JSON"),
        ({**METRIC_TAGS, "forescale:colour": "blue"}, "colour"),
    ],
)
def test_bad_tags_are_refused_naming_the_field(tags, message):
    with pytest.raises(ValueError, match=message):
        target_from_tags("asg", {"asg_name": "web-asg"}, tags)


def test_tag_filter_parsing():
    assert parse_tag_filter("forescale:enabled=true") == ("forescale:enabled", "true")
    with pytest.raises(ValueError, match="FORESCALE_DISCOVERY_TAG"):
        parse_tag_filter("forescale:enabled")


@pytest.mark.integration
def test_discovery_finds_tagged_groups_and_services_on_moto(moto_endpoint, unique_name):
    aws = LocalAws(moto_endpoint, prefix=unique_name("disc"))
    group, cluster = f"{aws.prefix}-web", f"{aws.prefix}-c"
    aws.create_asg(group, desired=2, min_size=1, max_size=10, tags=METRIC_TAGS)
    aws.create_asg(f"{aws.prefix}-untagged", desired=1, min_size=1, max_size=2)
    aws.create_ecs_service(cluster, "api", desired=2, tags={**METRIC_TAGS, "forescale:target_id": f"{aws.prefix}-api"})
    aws.create_ecs_service(cluster, "broken", desired=1, tags={"forescale:enabled": "true"})
    found = AwsTagDiscovery(
        aws.client("autoscaling"), aws.client("resourcegroupstaggingapi"), tag=("forescale:enabled", "true")
    ).discover()
    mine = {t.target_id: t for t in found.targets if t.target_id.startswith(aws.prefix)}
    assert set(mine) == {group, f"{aws.prefix}-api"}
    assert mine[group].kind == "asg" and mine[f"{aws.prefix}-api"].ecs_service == "api"
    assert any(f"service/{cluster}/broken" in p and "metric" in p for p in found.problems)


def test_catalog_merges_configuration_and_discovery_configuration_first():
    objects = InMemoryObjects()
    objects.put_new("config/targets.json", json.dumps([target("web").model_dump(mode="json")]).encode())
    discovered = [target("web", max_capacity=3), target("other", asg_name="web-asg"), target("new")]
    catalog = TargetCatalog(
        objects, "config/targets.json", FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), StaticDiscovery(discovered)
    )
    found = {t.target_id: t for t in catalog.targets()}
    assert set(found) == {"web", "new"} and found["web"].max_capacity == 60  # same id / same group: configured wins


def test_catalog_refuses_a_bad_configuration_naming_the_entry():
    objects = InMemoryObjects()
    bad = [target("web").model_dump(mode="json") | {"max_capacity": 0}]
    objects.put_new("config/targets.json", json.dumps(bad).encode())
    catalog = TargetCatalog(objects, "config/targets.json", FixedClock(datetime(2026, 1, 1, tzinfo=UTC)))
    with pytest.raises(ValueError, match=r"targets\[0\].*max_capacity"):
        catalog.targets()


def test_every_catalogued_function_has_a_handler():
    import importlib

    for spec in FUNCTIONS:
        module = importlib.import_module(f"functions.handlers.{spec.name}")
        assert callable(module.handler), spec.name


def test_metric_names_match_the_stacks_telemetry_contract():
    from infra_cdk import telemetry

    for spec in telemetry.ALL_METRICS:
        assert getattr(common, spec.name.replace("Percent", "").replace("Seconds", "").upper(), None) in (
            spec.name,
            None,
        )
    names = {common.FORECAST_ERROR, common.FORECAST_AGE, common.SLO_BREACHES, common.TARGETS_OVER_SLO,
             common.STALE_TARGETS, common.SLO_BUDGET_OVERSPENT, common.SCALING_FAILURES, common.REJECTED_EVENTS,
             common.LEVEL_SHIFT, common.DECISIONS_UNRECORDED, common.FORECASTS_DEGRADED}  # fmt: skip
    assert names == {spec.name for spec in telemetry.ALL_METRICS}
    assert common.METRICS_NAMESPACE == telemetry.NAMESPACE


LIGHT = ["collector", "decider", "executor", "intake", "alarm_responder", "api", "widget"]


def test_light_handlers_import_no_forecasting_library():
    """Functions on the common layer only (catalog) must not import what only the ML layers ship."""
    code = (
        "import importlib, sys\n"
        f"for name in {LIGHT!r}: importlib.import_module('functions.handlers.' + name)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'statsforecast', 'lightgbm', 'sklearn', 'scipy', 'statsmodels'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    assert {spec.name for spec in FUNCTIONS if spec.layers == LIGHT_LAYERS} == set(LIGHT)


def test_services_never_import_boto3_or_powertools():
    import ast
    from pathlib import Path

    for path in sorted(Path(common.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith(("boto3", "botocore", "aws_lambda_powertools"))], path.name


SETTINGS = Settings(
    state_table="s", audit_table="a", business_events_table="b", model_registry_table="m",
    idempotency_table="i", bucket="bucket", event_bus="bus",
)  # fmt: skip


def test_components_refuse_unknown_names_and_name_missing_settings(monkeypatch):
    # GIVEN a replacement that is not a component THEN the container refuses it, naming it
    with pytest.raises(ValueError, match=r"unknown component\(s\) \['colour'\]"):
        Components(SETTINGS, FixedClock(datetime(2026, 3, 10, tzinfo=UTC)), SequentialIds(), colour="blue")
    # GIVEN an environment without a required table THEN the production container names the variable
    monkeypatch.delenv("STATE_TABLE", raising=False)
    with pytest.raises(RuntimeError, match="STATE_TABLE: required environment variable is not set"):
        Components.from_env()


def test_each_container_builds_its_components_once_and_shares_nothing_with_another():
    # GIVEN two containers with their own clocks and an in-memory object store
    clock = FixedClock(datetime(2026, 3, 10, tzinfo=UTC))
    first = Components(
        SETTINGS, clock, SequentialIds(), objects=InMemoryObjects("bucket"), state_store=InMemoryStateStore()
    )
    second = Components(SETTINGS, FixedClock(datetime(2026, 3, 11, tzinfo=UTC)), SequentialIds())
    # THEN a component is built once per container, on the replacements and the clock it was given
    assert first.catalog is first.catalog and first.intake.catalog is first.catalog
    assert first.catalog.objects is first.objects and first.intake.clock is clock
    # AND a container built from another replaces what it is told to, keeping the rest, building anew
    third = first.replaced(clock=second.clock)
    assert third.objects is first.objects and third.clock is second.clock and third.catalog is not first.catalog
    # AND installing one for the handlers lasts only while it is in use
    before = wiring.installed()
    with wiring.use(first):
        assert wiring.components() is first
    assert wiring.installed() is before
