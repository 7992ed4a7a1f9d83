"""The dashboard's custom widget: a page of the fleet and each target's view, rendered from the stored records."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from service_support import NOON, flat_history, put_load, target

from forescale_tools.local_router import LambdaContext
from functions.handlers.widget import handler

ARN = "arn:aws:lambda:us-east-1:123456789012:function:widget"


def call(**params: Any) -> str:
    """The widget function as a dashboard calls it (its parameters and the dashboard's context)."""
    context = {"timeRange": {"start": int((NOON - timedelta(hours=1)).timestamp() * 1000),
                             "end": int((NOON + timedelta(minutes=30)).timestamp() * 1000)}}  # fmt: skip
    result: str = handler({**params, "widgetContext": context}, LambdaContext("widget", "req-1"))
    return result


def actions(html: str) -> list[dict[str, Any]]:
    """The parameters of every link that re-invokes the widget (``<cwdb-action action="call">``)."""
    found = re.findall(r'<cwdb-action action="call" endpoint="([^"]+)">(.*?)</cwdb-action>', html)
    assert all(endpoint == ARN for endpoint, _ in found), found
    return [json.loads(body.replace("&quot;", '"')) for _, body in found]


def run_rounds(world, clock, loads: list[float]) -> None:
    """Rounds every 5 minutes from noon, each with the load of the period before."""
    web = world.catalog_targets[0]
    for index, load in enumerate(loads):
        at = NOON + timedelta(minutes=5 * index)
        put_load(world, web, at - timedelta(minutes=5), load)
        clock.current = at + timedelta(seconds=10)
        deliveries = [world.router.invoke("collector", {}), *world.router.pump()]
        assert all(d.error is None for d in deliveries), [(d.function, d.error) for d in deliveries]


def test_the_fleet_page_lists_a_page_of_targets_each_linked_to_its_view(memory):
    # GIVEN 30 targets
    world = memory([target(f"svc-{i:02d}") for i in range(30)])
    assert world
    # WHEN the widget is called without parameters
    html = call()
    # THEN it shows the first 25 targets, each a link naming it, and a link to the next page
    params = actions(html)
    assert [p["target"] for p in params if "target" in p] == [f"svc-{i:02d}" for i in range(25)]
    assert {"page": 2} in params and "page 1 of 2 (30 targets)" in html
    # AND the second page holds the rest, with a link back
    second = call(page=2)
    assert [p["target"] for p in actions(second) if "target" in p] == [f"svc-{i:02d}" for i in range(25, 30)]
    assert {"page": 1} in actions(second)


def test_a_targets_view_draws_load_band_capacity_error_and_budget_from_the_stored_records(memory, clock):
    # GIVEN a target decided on for three rounds (900 req/min, then a jump to 1,800 the forecast did not expect)
    web = target("web", slo_budget={"under_provisioning_pct": 1.0})
    world = memory([web])
    world.catalog_targets = [web]
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    flat_history(world, "web", 900.0)
    run_rounds(world, clock, [900.0, 900.0, 1800.0])
    # WHEN its view is asked for (a link of the fleet page)
    html = call(target="web", forecastErrorThresholdPercent=20)
    # THEN the four parts are there, with one chart line per series that has data
    for title in ("against the forecast band", "capacity", "forecast error", "SLO budget"):
        assert title in html, title
    assert html.count("<svg") == 3
    assert html.count("<polyline") >= 6  # load, p50, p90, decided, desired at decision, in service, error
    # AND the decided capacity is drawn from the stored decisions (the alarm responder's among them: two
    # instances were 450 % busy), one vertex per step of the line, and the error is measured against the
    # threshold the dashboard passed (the jump to 1,800 is 100 % over a p50 of 900)
    decided = world.store.decisions("web", NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    assert len(decided) == 4 and any(d.reactive and "SLO breach" in d.reason for d in decided)
    decided_line = re.search(r'stroke="#9467bd"[^>]*points="([^"]+)"', html)
    assert decided_line and len(decided_line.group(1).split()) == 2 * len(decided)
    assert "alarm threshold 20 %" in html and 'class="bad"' in html
    assert re.search(r"budget 1\.00 %, spent", html)
    # AND a link leads back to the fleet page
    assert {"page": 1} in actions(html)


def test_a_targets_view_says_when_its_forecasts_are_degraded(memory, clock):
    # GIVEN a target decided on for two rounds
    web = target("web")
    world = memory([web])
    world.catalog_targets = [web]
    world.capacity.add_asg("web-asg", desired=2, min_capacity=1, max_capacity=60)
    flat_history(world, "web", 900.0)
    run_rounds(world, clock, [900.0, 900.0])
    # THEN its view does not call its forecasts degraded
    assert "degraded" not in call(target="web")
    # WHEN the decider has opened a ForecastDegraded episode for it
    state = world.store.get_target_state("web")
    world.store.put_target_state(replace(state, forecast_degraded=True))
    # THEN the view says so, beside the forecast error
    assert '<span class="bad">degraded</span>: ForecastDegraded sent' in call(target="web")


def test_an_unknown_target_or_a_bad_parameter_is_named(memory):
    # GIVEN a fleet of one
    memory([target("web")])
    # WHEN the widget is asked for a target that does not exist, or for page 0
    unknown = call(target="ghost")
    bad = call(page=0)
    # THEN each answer names what is wrong (and the fleet page still shows)
    assert "target 'ghost' is not a configured or discovered target" in unknown and "web" in unknown
    assert bad.startswith("<p>widget parameters: page:") and "greater than or equal to 1" in bad


def test_the_console_gets_the_widgets_documentation(memory):
    # GIVEN the console adding the widget WHEN it asks for the documentation THEN it gets markdown naming params
    memory([target("web")])
    docs = handler({"describe": True}, LambdaContext("widget", "req-2"))
    assert "forecastErrorThresholdPercent" in docs
