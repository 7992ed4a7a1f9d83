"""Lambda's asynchronous invocation as the tests need it: two retries, then a dead-letter queue in moto.

EventBridge and the scheduler invoke forescale's functions asynchronously. Lambda runs such an event,
and when the function raises (or runs past its timeout) it retries it twice more (``MaximumRetryAttempts``
2, the default), then sends it to the function's dead-letter queue. :class:`AsyncLambda` does exactly
that against a real SQS queue on moto's server, and keeps a ledger so that a test can show that every
input event ends as a success record, a pending retry, or a dead-letter entry: nothing is lost.

Time: handlers sleep only through :class:`VirtualSleep` (the wiring's ``sleep`` and botocore's retry
backoff, see :func:`virtual_botocore_sleep`), which records the delay instead of waiting. An attempt's
duration is its real time plus the delays it asked for; an attempt longer than the function's timeout
(``functions.catalog``) is a failure, as Lambda would kill it.
"""

from __future__ import annotations

import json
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from forescale_tools.local_router import LambdaContext, load_handler
from functions.catalog import by_name

#: Lambda's default for asynchronous invocations: the first attempt and two retries.
ATTEMPTS = 3


@dataclass
class VirtualSleep:
    """A ``sleep`` that records the delays asked for and returns at once (thread-safe)."""

    delays: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep: negative delay")
        with self._lock:
            self.delays.append(float(seconds))

    @property
    def total(self) -> float:
        with self._lock:
            return sum(self.delays)


@contextmanager
def virtual_botocore_sleep(sleep: VirtualSleep) -> Iterator[None]:
    """botocore's retry backoff (``time.sleep`` in ``botocore.endpoint``) goes through ``sleep`` instead."""
    import botocore.endpoint

    module: Any = botocore.endpoint
    original = module.time
    module.time = types.SimpleNamespace(sleep=sleep)
    try:
        yield
    finally:
        module.time = original


@dataclass
class Attempt:
    error: str | None
    seconds: float  # real time + virtual sleeps


@dataclass
class Invocation:
    key: str
    event: dict[str, Any]
    attempts: list[Attempt] = field(default_factory=list)
    result: Any = None
    state: str = "queued"  # queued | succeeded | retrying | dead-lettered

    @property
    def last_error(self) -> str | None:
        return self.attempts[-1].error if self.attempts else None


#: Where an input event can end (``lost``: none of the others).
ENDS = ("succeeded", "reported_failed", "pending", "dead_lettered", "returned", "lost")


@dataclass(frozen=True)
class Ledger:
    """Where every input event ended. ``lost`` counts what is none of the others."""

    inputs: int
    succeeded: int
    pending: int
    dead_lettered: int
    #: synchronous calls (operator API) answered with an error: the caller still holds the request
    returned: int = 0
    #: handled without error, but what it asked for was not done and that is on record (``ScalingFailed``)
    reported_failed: int = 0
    #: each input's end (one of :data:`ENDS`) by input key
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        ended = self.succeeded + self.reported_failed + self.pending + self.dead_lettered + self.returned
        return self.inputs - ended

    def as_dict(self) -> dict[str, int]:
        return {end: getattr(self, end) for end in ENDS} | {"inputs": self.inputs}

    @classmethod
    def of(cls, outcomes: dict[str, str]) -> Ledger:
        """The ledger of inputs whose ends are known one by one (``key -> end``)."""
        unknown = {end for end in outcomes.values() if end not in ENDS}
        if unknown:
            raise ValueError(f"outcomes: unknown ends {sorted(unknown)}, expected one of {ENDS}")
        count = {end: sum(1 for e in outcomes.values() if e == end) for end in ENDS if end != "lost"}
        return cls(len(outcomes), **count, outcomes=dict(outcomes))


@dataclass
class AsyncLambda:
    """One function invoked asynchronously, with its dead-letter queue ``dlq_url`` on moto's SQS."""

    function: str
    sqs: Any
    dlq_url: str
    sleep: VirtualSleep
    handler: Callable[[dict[str, Any], Any], Any] | None = None
    #: names the input event an attempt handles (:meth:`FaultProxy.attributed_to`), so that a fault is
    #: counted against the event it hit
    attribute: Callable[[str], AbstractContextManager[None]] | None = None
    invocations: list[Invocation] = field(default_factory=list)
    _requests: int = 0

    def __post_init__(self) -> None:
        self.timeout_seconds = by_name(self.function).timeout_seconds
        if self.handler is None:
            self.handler = load_handler(self.function)

    def invoke(self, event: dict[str, Any], *, key: str | None = None) -> Invocation:
        """Queue ``event`` and run its first attempt."""
        invocation = Invocation(key or str(event.get("id", len(self.invocations))), event)
        self.invocations.append(invocation)
        self._attempt(invocation)
        return invocation

    def retry_pending(self) -> int:
        """One more attempt for every invocation waiting for a retry (Lambda's next retry); how many ran."""
        waiting = [i for i in self.invocations if i.state == "retrying"]
        for invocation in waiting:
            self._attempt(invocation)
        return len(waiting)

    def settle(self) -> None:
        """Run retries until every invocation succeeded or was dead-lettered."""
        while self.retry_pending():
            pass

    def _attempt(self, invocation: Invocation) -> None:
        assert self.handler is not None
        self._requests += 1
        context = LambdaContext(
            function_name=self.function,
            aws_request_id=f"req-{self._requests:06d}",
            timeout_seconds=self.timeout_seconds,
        )
        slept_before = self.sleep.total
        started = time.monotonic()
        error: str | None = None
        try:
            with self.attribute(invocation.key) if self.attribute else nullcontext():
                result = self.handler(invocation.event, context)
        except Exception as raised:  # any function error: Lambda retries it, then dead-letters it
            error = f"{type(raised).__name__}: {raised}"
            result = None
        seconds = time.monotonic() - started + (self.sleep.total - slept_before)
        if error is None and seconds > self.timeout_seconds:
            error = f"Task timed out after {seconds:.1f} seconds"
        invocation.attempts.append(Attempt(error, seconds))
        if error is None:
            invocation.state, invocation.result = "succeeded", result
        elif len(invocation.attempts) < ATTEMPTS:
            invocation.state = "retrying"
        else:
            invocation.state = "dead-lettered"
            self.sqs.send_message(
                QueueUrl=self.dlq_url,
                MessageBody=json.dumps(invocation.event, default=str),
                MessageAttributes={
                    "InputKey": {"DataType": "String", "StringValue": invocation.key},
                    "ErrorMessage": {"DataType": "String", "StringValue": error[:1000]},
                },
            )

    # ----------------------------------------------------------------- accounting

    def dead_letter_keys(self) -> list[str]:
        """Input keys of the messages in the dead-letter queue, read back from SQS (the queue is left as is)."""
        keys: list[str] = []
        handles: list[str] = []
        while True:
            response = self.sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                keys.append(message["MessageAttributes"]["InputKey"]["StringValue"])
                handles.append(message["ReceiptHandle"])
        for handle in handles:  # make them visible again: the queue still holds them
            self.sqs.change_message_visibility(QueueUrl=self.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
        return keys

    def ledger(
        self, confirmed: Callable[[Invocation], bool], *, reported_failed: Callable[[Invocation], bool] | None = None
    ) -> Ledger:
        """Count each input once: a success only when ``confirmed`` finds its success record in the store
        (``reported_failed``: its failure record instead), a dead letter only when the message is really in
        the queue."""
        in_queue = set(self.dead_letter_keys())

        def end(invocation: Invocation) -> str:
            if invocation.state == "succeeded":
                if reported_failed is not None and reported_failed(invocation):
                    return "reported_failed"
                return "succeeded" if confirmed(invocation) else "lost"
            if invocation.state == "retrying":
                return "pending"
            return "dead_lettered" if invocation.state == "dead-lettered" and invocation.key in in_queue else "lost"

        if len({i.key for i in self.invocations}) != len(self.invocations):
            raise ValueError(f"{self.function}: input keys must be unique to count each input once")
        return Ledger.of({i.key: end(i) for i in self.invocations})

    @property
    def longest_attempt(self) -> float:
        return max((a.seconds for i in self.invocations for a in i.attempts), default=0.0)
