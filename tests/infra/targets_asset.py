"""Read back the targets object a synthesized app deploys: the custom resource copies an S3 asset to the key."""

from __future__ import annotations

import json
import re
from typing import Any

from infra_cdk.access import TARGETS_KEY
from tests.infra.conftest import STATELESS, Synthesized, render

#: Asset hashes in a template (the CDK names staged assets by the SHA-256 of their content).
ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def targets_object(synthesized: Synthesized, stack: str = STATELESS) -> tuple[str, list[Any]]:
    """``(key, targets)``: the key the deploy writes and the JSON list it copies there (the staged asset)."""
    stateless = synthesized.templates[stack]
    calls = [
        json.loads(render(r["Properties"]["Create"]))
        for r in stateless["Resources"].values()
        if r["Type"] == "Custom::AWS"
    ]
    (call,) = [c for c in calls if c["parameters"]["Key"] == TARGETS_KEY]
    if call["action"] != "copyObject":
        raise AssertionError(f"the targets object is written by {call['action']}, not copied from an asset")
    (digest,) = ASSET_HASH.findall(call["parameters"]["CopySource"])
    (staged,) = synthesized.outdir.glob(f"asset.{digest}*")
    return str(call["parameters"]["Key"]), json.loads(staged.read_text(encoding="utf-8"))
