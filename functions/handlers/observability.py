"""Powertools Logger, Tracer and Metrics of every forescale function, created once.

``POWERTOOLS_*`` variables configure them (the CDK stack sets service, namespace and log level);
``correlation_paths.EVENT_BRIDGE`` ties every log line of an invocation to the event id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from pydantic import ValidationError

from events.errors import RejectedEventError
from functions.services.common import METRICS_NAMESPACE, REJECTED_EVENTS

SERVICE = "forescale"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)

F = TypeVar("F", bound=Callable[..., Any])


def observed(handler: F, *, correlation_id_path: str | None = correlation_paths.EVENT_BRIDGE) -> F:
    """Log context (with the event id as correlation id), X-Ray segment and metrics flush around a handler.

    An invocation that ends in a validation error (the event does not match its contract, a business
    event is rejected, or data fails validation while it is handled) adds one ``RejectedEvents`` and
    the error is raised again. With ``POWERTOOLS_METRICS_DISABLED`` (local runs, tests)
    nothing is flushed: :func:`count` adds nothing then, and Powertools would warn on every invocation
    that it had no metrics to publish.
    """

    @functools.wraps(handler)
    def counted(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except (ValidationError, RejectedEventError):
            count(REJECTED_EVENTS, 1)  # re-raised: Lambda retries it, then keeps it in the dead-letter queue
            raise

    flushed = metrics.log_metrics(counted)

    @functools.wraps(handler)
    def measured(event: Any, context: Any) -> Any:
        return handler(event, context) if is_metrics_disabled() else flushed(event, context)

    wrapped = tracer.capture_lambda_handler(measured)
    return cast(F, logger.inject_lambda_context(correlation_id_path=correlation_id_path)(wrapped))


def scheduled(handler: F) -> F:
    """:func:`observed` for functions the scheduler invokes (no event id to correlate)."""
    return observed(handler, correlation_id_path=None)


def count(name: str, value: float) -> None:
    """One count metric of this invocation (flushed by ``observed``).

    Nothing is added while ``POWERTOOLS_METRICS_DISABLED`` is set (local runs): Powertools would keep
    the values in memory without ever flushing them.
    """
    if not is_metrics_disabled():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
