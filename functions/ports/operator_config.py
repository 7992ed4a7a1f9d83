"""The operator's configuration object: one document replaced by compare-and-swap on a version token.

Implemented by :class:`functions.adapters.operator_config.S3OperatorConfig` and
:class:`forescale_tools.memory.InMemoryOperatorConfig`; the document is
:class:`functions.services.targets.OperatorTargets` as JSON.
"""

from __future__ import annotations

from typing import Protocol

from functions.ports.tracker import StoredRecord


class OperatorConfigStore(Protocol):
    def load(self) -> StoredRecord | None:
        """The stored document and its version, None when there is none."""
        ...

    def save(self, body: bytes, expected_version: str | None) -> str:
        """Replace the document if it is still ``expected_version`` (None: if there is none); the new version.

        Raises :class:`~functions.ports.errors.ConflictError` when another writer stored it since.
        """
        ...
