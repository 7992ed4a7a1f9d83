"""The errors every adapter and its twin raise, importable from here; they live in :mod:`functions.ports.errors`."""

from __future__ import annotations

from functions.ports.errors import AdapterError, AlreadyExistsError, ConflictError, NotFoundError

__all__ = ["AdapterError", "AlreadyExistsError", "ConflictError", "NotFoundError"]
