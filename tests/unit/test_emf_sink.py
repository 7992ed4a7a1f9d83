"""The services' metric sink writes CloudWatch embedded metric format, and nothing while metrics are disabled."""

from __future__ import annotations

import json

from functions.adapters.emf import EmfSink


def test_a_value_is_one_emf_document_with_its_dimensions(monkeypatch, capsys):
    # GIVEN metrics enabled
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    # WHEN the sink emits a value for a target
    EmfSink("Forescale").emit("ForecastMASE", 0.8, target_id="web")
    # THEN one EMF document carries it in the namespace, with the service and target dimensions
    (line,) = capsys.readouterr().out.strip().splitlines()
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Forescale"
    assert sorted(directive["Dimensions"][0]) == ["TargetId", "service"]
    assert (
        document["ForecastMASE"] in (0.8, [0.8])
        and document["TargetId"] == "web"
        and document["service"] == "forescale"
    )


def test_nothing_is_written_while_metrics_are_disabled(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    EmfSink("Forescale").emit("ForecastMASE", 0.8, target_id="web")
    assert capsys.readouterr().out == ""
