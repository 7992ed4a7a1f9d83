"""The executor's handler runs :meth:`ExecutorService.execute` at most once per decision (Powertools idempotency).

The persistence layer is a component of the composition root (DynamoDB in Lambda, a dict in local
runs); the idempotent wrapper around the service is built here, once per executor and store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from events.contracts import ScalingDecided
    from functions.services.executor import ExecutorService

#: how long a decision's record is kept: far beyond any redelivery or retry of the same event
EXPIRES_AFTER_SECONDS = 7 * 86_400


class ExecuteOnce:
    """``once(decision, context)``: the service's outcome, computed on the first delivery and replayed after.

    Keyed by the whole decision: an altered copy under a real ``decision_id`` gets a record of its own.
    """

    def __init__(self, service: ExecutorService, store: BasePersistenceLayer) -> None:
        self.service = service
        self.store = store
        self.config = IdempotencyConfig(event_key_jmespath="", expires_after_seconds=EXPIRES_AFTER_SECONDS)

        @idempotent_function(data_keyword_argument="decision", persistence_store=store, config=self.config)
        def execute(decision: ScalingDecided) -> dict[str, Any]:
            return service.execute(decision)

        self._execute = execute

    def __call__(self, decision: ScalingDecided, context: LambdaContext | None = None) -> dict[str, Any]:
        if context is not None:  # lets Powertools expire an in-progress record with the invocation's deadline
            self.config.register_lambda_context(context)
        outcome: dict[str, Any] = self._execute(decision=decision)
        return outcome


_built: list[ExecuteOnce] = []


def execute_once(
    service: ExecutorService, store: BasePersistenceLayer, decision: ScalingDecided, context: LambdaContext | None
) -> dict[str, Any]:
    """:class:`ExecuteOnce` for this service and store, built on first use and kept while they are the same."""
    if not _built or _built[0].service is not service or _built[0].store is not store:
        _built[:] = [ExecuteOnce(service, store)]
    return _built[0](decision, context)
