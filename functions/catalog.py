"""The Lambda functions of forescale: one list read by the CDK stack, the layer size test and the docs.

Each entry names its handler (all functions share one code asset), which layers it needs, and the
resources it is given. Handlers live in ``functions/handlers/<name>.py`` as ``handler``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Layer = Literal["common", "arrow", "statsforecast", "lightgbm", "fastparquet"]
#: The light functions: Powertools, pydantic, numpy, pandas and pyarrow (the Parquet history and audit trail).
LIGHT: tuple[Layer, ...] = ("common", "arrow")
#: The forecasting functions: statsforecast and LightGBM, reading Parquet with fastparquet (pyarrow does not
#: fit beside them in Lambda's 250 MB; layers/README.md has the sizes).
FORECASTING: tuple[Layer, ...] = ("common", "statsforecast", "lightgbm", "fastparquet")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    purpose: str
    layers: tuple[Layer, ...]
    memory_mb: int
    timeout_seconds: int

    @property
    def handler(self) -> str:
        return f"functions.handlers.{self.name}.handler"


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("collector", "every minute: pull load metrics and capacity, append history", LIGHT, 512, 300),
    FunctionSpec("forecaster", "on MetricsCollected: forecast every horizon", FORECASTING, 3008, 900),
    FunctionSpec("decider", "on ForecastReady: decide capacity with safety rules", LIGHT, 512, 120),
    FunctionSpec("executor", "on ScalingDecided: change ASG / ECS capacity, verify, roll back", LIGHT, 256, 120),
    FunctionSpec("intake", "on BusinessEvent: validate and store business events", LIGHT, 256, 30),
    FunctionSpec("alarm_responder", "on SloBreached: scale out at once", LIGHT, 256, 60),
    FunctionSpec(
        "trainer",
        "daily: backtest and refit models, promote challengers",
        FORECASTING,
        3008,
        900,
    ),
    FunctionSpec("api", "operator HTTP API (IAM auth)", LIGHT, 256, 30),
    FunctionSpec("widget", "dashboard custom widget: each target from its stored records", LIGHT, 512, 60),
)


def by_name(name: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(f"function: no function named {name!r}")
