"""The services' metric sink as CloudWatch embedded metric format (one EMF document per value, in the log).

An adapter like the others: the composition root builds it, the handlers' own ``count`` metrics stay in
:mod:`functions.handlers.observability`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled


@dataclass(frozen=True)
class EmfSink:
    """:class:`functions.services.common.MetricSink` as EMF; nothing is written while metrics are disabled."""

    namespace: str
    service: str = "forescale"

    def emit(self, name: str, value: float, *, unit: str = "None", target_id: str | None = None) -> None:
        if is_metrics_disabled():
            return
        with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=self.namespace) as metric:
            metric.add_dimension(name="service", value=self.service)
            if target_id is not None:
                metric.add_dimension(name="TargetId", value=target_id)
