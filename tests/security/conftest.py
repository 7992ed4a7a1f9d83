"""Fixtures of the security tests: recorded figures, the moto deployment of the reliability tests, and the
synthesized templates (the session's synthesis from ``tests/infra`` when it has already run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.plugin import figures  # noqa: F401
from tests.support.world import fault_proxy, world  # noqa: F401


@pytest.fixture(scope="session")
def synthesized(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app of ``tests/infra/conftest.py`` synthesized once per session: when ``tests/infra`` already
    synthesized it in this session, that result is reused (synthesis takes 15-30 s)."""
    manager = getattr(request.session, "_fixturemanager", None)
    for definition in getattr(manager, "_arg2fixturedefs", {}).get("synthesized", []):
        cached = getattr(definition, "cached_result", None)
        if cached is not None and cached[0] is not None and not str(definition.baseid).startswith("tests/security"):
            return cached[0]
    from infra_cdk.app import build_app
    from tests.infra.conftest import CONTEXT, LAYER_NAMES, _synthesize

    layers: Path = tmp_path_factory.mktemp("security-layers")
    for name in LAYER_NAMES:
        (layers / name / "python").mkdir(parents=True)
        (layers / name / "python" / f"built_{name}.txt").write_text("stand-in\n")
    app = build_app({**CONTEXT, "forescale:layersDir": str(layers)}, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return _synthesize(app)
