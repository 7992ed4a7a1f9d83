"""``forescale targets``: each command reaches the operator API (the real handler here) and a refusal, local
or remote, names the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from service_support import target

from forescale_tools import targets_cli
from forescale_tools.local_router import LambdaContext
from tests.support.function_url import url_event


def through_the_handler(method: str, path: str, body: bytes | None) -> tuple[int, Any]:
    """The CLI's transport straight into the API handler (the signed HTTPS request's Lambda event)."""
    from functions.handlers import api

    event = url_event(method, path, body=None if body is None else body.decode())
    response = api.handler(event, LambdaContext("api", "req-1"))
    text = response.get("body")
    return int(response["statusCode"]), json.loads(text) if text else None


def run(*argv: str) -> int:
    return targets_cli.main(list(argv), send=through_the_handler)


def test_put_list_set_mode_remove_and_kill_switch(memory, tmp_path: Path, capsys):
    # GIVEN a deployment with web, and a new target in a file
    world = memory([target("web", mode="forecast_only")])
    file = tmp_path / "new.json"
    file.write_text(json.dumps(target("new", asg_name="new-asg", mode="forecast_only").model_dump(mode="json")))
    # WHEN an operator puts it, switches it to floor and lists the targets
    assert run("put", str(file)) == 0
    assert run("set-mode", "new", "floor") == 0
    capsys.readouterr()
    assert run("list") == 0
    listed = capsys.readouterr().out
    # THEN the list shows both with their source, and the catalogue has new in floor mode
    assert "new  " in listed and "floor" in listed and "operator" in listed and "deploy" in listed
    assert world.components.catalog.get("new").mode == "floor"
    # WHEN it is removed and the kill switch engaged THEN both take effect
    assert run("remove", "new") == 0
    assert [t.target_id for t in world.components.catalog.targets()] == ["web"]
    assert run("kill-switch", "on", "--reason", "incident 42") == 0
    switch = world.store.kill_switch("web")
    assert switch is not None and switch.reason == "incident 42" and switch.changed_by == "operator"
    assert run("kill-switch", "off", "--reason", "resolved") == 0
    assert world.store.kill_switch("web") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_capacity": 0}, "new.json: max_capacity:"),
        ({"colour": "blue"}, "new.json: colour:"),
    ],
)
def test_a_bad_target_file_is_refused_before_sending_naming_the_field(memory, tmp_path, capsys, change, message):
    memory([target("web")])
    file = tmp_path / "new.json"
    file.write_text(json.dumps(target("new", asg_name="new-asg").model_dump(mode="json") | change))
    assert run("put", str(file)) == 2
    assert message in capsys.readouterr().err


def test_a_refusal_of_the_api_is_printed_naming_the_field(memory, tmp_path, capsys):
    # GIVEN a target whose group web already manages
    memory([target("web")])
    file = tmp_path / "dup.json"
    file.write_text(json.dumps(target("dup", asg_name="web-asg").model_dump(mode="json")))
    # WHEN it is put, or an unknown target's mode is set THEN the API's refusal names the field
    assert run("put", str(file)) == 1
    assert "put: asg_name: web-asg is already managed by 'web'" in capsys.readouterr().err
    assert run("set-mode", "ghost", "floor") == 1
    assert "set-mode: target_id:" in capsys.readouterr().err


def test_without_a_url_the_command_says_how_to_give_one(monkeypatch, capsys):
    monkeypatch.delenv("FORESCALE_API_URL", raising=False)
    assert targets_cli.main(["list"]) == 2
    assert "FORESCALE_API_URL" in capsys.readouterr().err
