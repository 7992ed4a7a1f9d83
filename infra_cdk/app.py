"""The CDK app: the only place that reads context. ``python -m infra_cdk.app`` or ``npx cdk synth``.

Context keys (``cdk.json`` or ``-c key=value``; JSON values may be given as strings):

==================================== ===============================================================
``forescale:targets``                list of scaling targets (``ScalingTarget``), validated at synth
``forescale:modes``                  ``{target_id: forecast_only|floor|direct}`` overriding modes
``forescale:cadence``                ``{collect_every_minutes, train_at_hour_utc, stale_after_minutes}``
``forescale:tagDiscovery``           also manage groups/services tagged ``forescale:enabled=true``
``forescale:forecastErrorThresholdPercent`` forecast error alarm threshold (default 35)
``forescale:businessEventAccounts``  other accounts allowed to send business events to the bus
``forescale:alarmEmail``             e-mail address subscribed to the alarm topic
``forescale:metricStream``           collect load from a CloudWatch metric stream (default true; false:
                                     GetMetricData every round)
``forescale:layersDir``              tests only: stand-ins for the layers (default: synth builds them)
``forescale:stackPrefix``            stack names ``<prefix>Stateful`` / ``<prefix>Stateless``
==================================== ===============================================================

A bad value fails synth with one line naming the key or field, e.g.
``forescale: invalid targets[0]: max_capacity: Field required``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from events.contracts import Mode
from functions.domain.target import ScalingTarget, parse_targets
from infra_cdk.forescale import Cadence
from infra_cdk.names import DEFAULT_STACK_PREFIX, stateful_stack_name, stateless_stack_name
from infra_cdk.stacks import ForescaleStatefulStack, ForescaleStatelessStack
from infra_cdk.staging import PROJECT_ROOT

PREFIX = "forescale:"
KNOWN_KEYS = frozenset(
    {
        "targets",
        "modes",
        "cadence",
        "tagDiscovery",
        "forecastErrorThresholdPercent",
        "businessEventAccounts",
        "alarmEmail",
        "metricStream",
        "layersDir",
        "stackPrefix",
    }
)


#: One address as an SNS e-mail subscription takes it: a local part, "@", a domain of dotted labels.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


@dataclass(frozen=True)
class AppConfig:
    targets: list[ScalingTarget]
    modes: dict[str, Mode] = field(default_factory=dict)
    cadence: Cadence = field(default_factory=Cadence)
    tag_discovery: bool = True
    forecast_error_threshold_percent: float = 35.0
    business_event_accounts: tuple[str, ...] = ()
    alarm_email: str | None = None
    metric_stream: bool = True
    layers_dir: Path | None = None
    stack_prefix: str = DEFAULT_STACK_PREFIX


def _json(key: str, value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{PREFIX}{key}: not valid JSON ({exc.msg})") from exc
    return value


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ValueError(f"{PREFIX}{key}: must be true or false, got {value!r}")


def _email(key: str, value: Any) -> str | None:
    """An e-mail address or None; anything else fails synth (SNS would accept it and never deliver)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise ValueError(f"{PREFIX}{key}: {value!r} is not an e-mail address (give one, such as oncall@example.com)")
    return value.strip()


def read_config(context: Mapping[str, Any]) -> AppConfig:
    """Parse the ``forescale:*`` context; raises ``ValueError`` naming the key or field."""
    unknown = sorted(k for k in context if k.startswith(PREFIX) and k.removeprefix(PREFIX) not in KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown context key (known: {', '.join(sorted(KNOWN_KEYS))})")

    def get(key: str, default: Any = None) -> Any:
        return _json(key, context.get(PREFIX + key, default))

    targets = parse_targets(get("targets", []))
    modes = get("modes", {}) or {}
    allowed_modes = get_args(Mode)
    if not isinstance(modes, dict) or any(mode not in allowed_modes for mode in modes.values()):
        raise ValueError(f"{PREFIX}modes: must map target ids to one of {list(allowed_modes)}")
    cadence_raw = get("cadence", {}) or {}
    if not isinstance(cadence_raw, dict):
        raise ValueError(f"{PREFIX}cadence: must be an object")
    try:
        cadence = Cadence(**cadence_raw)
    except TypeError as exc:
        raise ValueError(f"{PREFIX}cadence: {exc}") from exc
    accounts = get("businessEventAccounts", []) or []
    if not isinstance(accounts, list):
        raise ValueError(f"{PREFIX}businessEventAccounts: must be a list of account ids")
    threshold = get("forecastErrorThresholdPercent", 35.0)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{PREFIX}forecastErrorThresholdPercent: must be a number") from exc
    layers_dir = Path(get("layersDir")) if get("layersDir") is not None else None
    return AppConfig(
        targets=targets,
        modes=dict(modes),
        cadence=cadence,
        tag_discovery=_bool("tagDiscovery", get("tagDiscovery", True)),
        forecast_error_threshold_percent=threshold,
        business_event_accounts=tuple(str(a) for a in accounts),
        alarm_email=_email("alarmEmail", get("alarmEmail")),
        metric_stream=_bool("metricStream", get("metricStream", True)),
        layers_dir=layers_dir if layers_dir is None or layers_dir.is_absolute() else PROJECT_ROOT / layers_dir,
        stack_prefix=str(get("stackPrefix", DEFAULT_STACK_PREFIX)),
    )


def build_app(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> App:
    """The app with both stacks and the cdk-nag AwsSolutions checks (which fail synth on a finding)."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    config = read_config(app.node.get_all_context())
    stateful = ForescaleStatefulStack(
        app, stateful_stack_name(config.stack_prefix), business_event_accounts=config.business_event_accounts
    )
    ForescaleStatelessStack(
        app,
        stateless_stack_name(config.stack_prefix),
        stateful=stateful,
        targets=config.targets,
        cadence=config.cadence,
        modes=config.modes,
        tag_discovery=config.tag_discovery,
        forecast_error_threshold_percent=config.forecast_error_threshold_percent,
        layers_dir=config.layers_dir,
        alarm_email=config.alarm_email,
        metric_stream=config.metric_stream,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def direct_run_context(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """``cdk.json``'s context when the app runs as ``python -m infra_cdk.app`` rather than under the cdk CLI
    (which passes context and output directory through ``CDK_CONTEXT_JSON`` / ``CDK_OUTDIR``)."""
    if "CDK_CONTEXT_JSON" in environ or "CDK_OUTDIR" in environ:
        return None
    cdk_json = PROJECT_ROOT / "cdk.json"
    if not cdk_json.is_file():
        return None
    context: dict[str, Any] = json.loads(cdk_json.read_text()).get("context", {})
    return context


def main() -> int:
    try:
        context = direct_run_context(os.environ)
        app = build_app(context, outdir=str(PROJECT_ROOT / "cdk.out") if context is not None else None)
    except ValueError as exc:  # ContractError included: the message names the field
        print(f"forescale: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
