"""Targets changed without a deploy: the operator's configuration object, its precedence over the deployed
one and discovery, the TTL that makes a change reach every function within one round, the operator API's
target and kill-switch routes (through the real handler) with errors naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from service_support import NOON, target

from forescale_tools.memory import InMemoryObjects, InMemoryOperatorConfig
from functions.domain.clock import FixedClock
from functions.ports.discovery import Discovered
from functions.ports.errors import ConflictError
from functions.services.targets import (
    CATALOG_TTL_SECONDS,
    OperatorTargets,
    TargetCatalog,
    merge,
    operator_key,
)
from tests.support.function_url import call

KEY = "config/targets.json"


class StaticDiscovery:
    def __init__(self, targets: list) -> None:
        self.targets = targets

    def discover(self) -> Discovered:
        return Discovered(targets=list(self.targets), problems=[])


def catalog(
    deployed: list, operator: InMemoryOperatorConfig, clock: FixedClock, discovered: list = ()
) -> TargetCatalog:
    objects = InMemoryObjects()
    objects.put_new(KEY, json.dumps([t.model_dump(mode="json") for t in deployed]).encode())
    discovery = StaticDiscovery(list(discovered)) if discovered else None
    return TargetCatalog(objects, KEY, clock, discovery, operator=operator)


def test_the_operator_object_wins_over_the_deploy_which_wins_over_discovery():
    # GIVEN deployed web (forecast_only) and api, an operator object that replaces web, adds new, removes api
    # and sets the discovered group's mode, and discovery finding a group plus one that web already manages
    deployed = [target("web"), target("api", asg_name="api-asg")]
    operator = OperatorTargets(
        targets=[target("web", max_capacity=7), target("new", asg_name="new-asg")],
        modes={"found": "floor", "ghost": "direct"},
        removed=["api"],
    )
    discovered = [target("found", asg_name="found-asg"), target("dup", asg_name="web-asg")]
    # WHEN merged
    merged = merge(deployed, operator, discovered)
    found = {t.target_id: t for t in merged.targets}
    # THEN the operator's web replaced the deployed one, api is gone, new is added, the discovered duplicate of
    # web's group is ignored, and the discovered group runs in the operator's mode (an unknown id is ignored)
    assert set(found) == {"web", "new", "found"}
    assert found["web"].max_capacity == 7 and found["found"].mode == "floor"
    assert merged.sources == {"found": "discovered", "new": "operator", "web": "operator"}
    assert merged.operator_modes == {"found"}


def test_an_operator_target_replaces_the_one_that_managed_its_group_under_another_id():
    merged = merge([target("old-name")], OperatorTargets(targets=[target("new-name", asg_name="old-name-asg")]))
    assert [t.target_id for t in merged.targets] == ["new-name"]


def test_a_change_reaches_the_catalogue_within_its_ttl_which_is_under_the_shortest_cadence():
    # GIVEN a catalogue that read the configuration (web only) at noon
    clock = FixedClock(NOON)
    store = InMemoryOperatorConfig()
    cat = catalog([target("web")], store, clock)
    assert [t.target_id for t in cat.targets()] == ["web"]
    # WHEN another container's operator API adds a target
    store.save(OperatorTargets(targets=[target("new", asg_name="new-asg")]).to_json(), None)
    # THEN it is not seen before the TTL, and is once the TTL has passed ...
    clock.current = NOON + timedelta(seconds=CATALOG_TTL_SECONDS - 1)
    assert [t.target_id for t in cat.targets()] == ["web"]
    clock.current = NOON + timedelta(seconds=CATALOG_TTL_SECONDS)
    assert [t.target_id for t in cat.targets()] == ["new", "web"]
    # ... which leaves at least a TTL between two rounds of the shortest collection cadence (1 minute)
    assert 2 * CATALOG_TTL_SECONDS <= 60


def test_an_unchanged_object_is_not_parsed_again_and_discovery_runs_at_its_own_slower_pace(monkeypatch):
    # GIVEN a catalogue over a deployed list and tag discovery, counting parses and discoveries
    import functions.services.targets as targets_module

    clock = FixedClock(NOON)
    store = InMemoryOperatorConfig()
    store.save(OperatorTargets(modes={"web": "floor"}).to_json(), None)
    cat = catalog([target("web")], store, clock, discovered=[target("found", asg_name="found-asg")])
    parses: list[int] = []
    real_parse = targets_module.parse_targets
    monkeypatch.setattr(targets_module, "parse_targets", lambda raw: parses.append(1) or real_parse(raw))
    discoveries: list[int] = []
    real_discover = cat.discovery.discover  # type: ignore[union-attr]
    monkeypatch.setattr(cat.discovery, "discover", lambda: discoveries.append(1) or real_discover())
    # WHEN it re-reads the objects every TTL for ten minutes
    for step in range(0, 600, CATALOG_TTL_SECONDS):
        clock.current = NOON + timedelta(seconds=step)
        assert [t.target_id for t in cat.targets()] == ["found", "web"]
    # THEN the unchanged deployed list was parsed once, discovery ran every five minutes (twice), and the
    # operator's mode held throughout
    assert len(parses) == 1 and len(discoveries) == 2
    assert cat.get("web").mode == "floor"


def test_a_malformed_operator_object_is_refused_naming_the_object_entry_and_field():
    clock = FixedClock(NOON)
    store = InMemoryOperatorConfig()
    bad = {"targets": [target("web").model_dump(mode="json") | {"max_capacity": 0}]}
    store.save(json.dumps(bad).encode(), None)
    with pytest.raises(ValueError, match=r"config/operator-targets\.json.*targets\.0\.max_capacity"):
        catalog([], store, clock).targets()
    store.save(b'{"modes": {"web": "sideways"}}', store.load().version)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"modes\.web"):
        catalog([], store, clock).targets()


def test_the_operator_object_sits_next_to_the_deployed_one():
    assert operator_key("config/targets.json") == "config/operator-targets.json"
    assert operator_key("k/t.json") == "k/operator-targets.json"


# --------------------------------------------------------------------------- the operator API


def test_put_set_mode_and_remove_through_the_api(memory, clock):
    # GIVEN a deployment with web (forecast_only)
    world = memory([target("web", mode="forecast_only")])
    new = target("new", asg_name="new-asg", mode="forecast_only").model_dump(mode="json")
    # WHEN an operator puts a target, switches web to floor and removes new again
    status, put = call("PUT", "/targets/new", body=json.dumps(new))
    assert status == 200 and put["change"] == "put" and put["mode"] == "forecast_only", put
    status, moded = call("PUT", "/targets/web/mode", body=json.dumps({"mode": "floor"}))
    assert status == 200 and moded["mode"] == "floor", moded
    # THEN the API lists both with their source, and web's mode was set by the operator
    status, listed = call("GET", "/targets")
    views = {v["target"]["target_id"]: v for v in listed}
    assert (views["new"]["source"], views["web"]["source"]) == ("operator", "deploy")
    assert views["web"]["target"]["mode"] == "floor" and views["web"]["mode_set_by_operator"] is True
    # ... the functions' catalogue sees the same (the deployed object is untouched)
    assert world.components.catalog.get("web").mode == "floor"
    assert json.loads(world.objects.get("config/targets.json"))[0]["mode"] == "forecast_only"
    status, removed = call("DELETE", "/targets/new")
    assert status == 200 and removed["change"] == "removed"
    assert [t.target_id for t in world.components.catalog.targets()] == ["web"]
    # ... and the operator's object records who changed it and when
    stored = OperatorTargets.model_validate_json(world.components.operator_config.load().body)
    assert stored.changed_by == "operator" and stored.changed_at == clock.now() and stored.removed == ["new"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("PUT", "/targets/new", {"max_capacity": 0}, 422, "max_capacity"),
        ("PUT", "/targets/new", {"colour": "blue"}, 422, "colour"),
        ("PUT", "/targets/other", {}, 422, "target_id"),
        ("PUT", "/targets/new", {"asg_name": "web-asg"}, 422, "asg_name"),  # web manages that group
        ("PUT", "/targets/web/mode", {"mode": "sideways"}, 422, "mode"),
        ("PUT", "/targets/ghost/mode", {"mode": "floor"}, 404, "target_id"),
        ("DELETE", "/targets/ghost", None, 404, "target_id"),
        ("PUT", "/kill-switch", {"engaged": True}, 422, "reason"),
        ("PUT", "/kill-switch", {"engaged": True, "reason": "x", "target_id": "ghost"}, 404, "target_id"),
    ],
)
def test_a_bad_change_is_refused_naming_the_field_and_changes_nothing(memory, method, path, body, status, field):
    # GIVEN a deployment with web
    world = memory([target("web")])
    if path.startswith("/targets/new") or path == "/targets/other":
        body = target("new", asg_name="new-asg").model_dump(mode="json") | body
    # WHEN the change is sent THEN it is refused naming the field, and no configuration is written
    answered, refusal = call(method, path, body=None if body is None else json.dumps(body))
    assert answered == status, refusal
    assert field in {e["field"] for e in refusal["errors"]}, refusal
    assert world.components.operator_config.load() is None
    assert world.store.kill_switch("web") is None


def test_the_kill_switch_is_engaged_and_released_through_the_api(memory, clock):
    world = memory([target("web")])
    status, engaged = call("PUT", "/kill-switch", body=json.dumps({"engaged": True, "reason": "incident 42"}))
    assert status == 200 and engaged["engaged"] is True and engaged["changed_by"] == "operator", engaged
    switch = world.store.kill_switch("web")
    assert switch is not None and switch.target_id is None and switch.reason == "incident 42"
    assert call("GET", "/health")[1]["kill_switch"] is True
    body = {"engaged": False, "reason": "resolved"}
    assert call("PUT", "/kill-switch", body=json.dumps(body))[0] == 200
    assert world.store.kill_switch("web") is None
    status, _ = call(
        "PUT", "/kill-switch", body=json.dumps({"engaged": True, "reason": "web only", "target_id": "web"})
    )
    assert status == 200 and world.store.kill_switch("web").target_id == "web"  # type: ignore[union-attr]


def test_a_change_that_loses_a_race_is_applied_to_the_newer_document(memory):
    # GIVEN another operator's change stored between this one's read and write
    world = memory([target("web")])
    store = world.components.operator_config
    real_save = store.save
    raced: list[int] = []

    def save(body: bytes, expected: str | None) -> str:
        if not raced:
            raced.append(1)
            real_save(OperatorTargets(modes={"web": "direct"}).to_json(), expected)
            raise ConflictError("operator configuration", "k")
        return real_save(body, expected)

    store.save = save  # type: ignore[method-assign]
    # WHEN a target is put THEN both changes are kept
    world.components.operator.put_target(target("new", asg_name="new-asg"), by="me")
    stored = OperatorTargets.model_validate_json(store.load().body)
    assert [t.target_id for t in stored.targets] == ["new"] and stored.modes == {"web": "direct"}
    assert datetime(2026, 1, 1, tzinfo=UTC) < stored.changed_at  # type: ignore[operator]
