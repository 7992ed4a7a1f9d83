"""Errors every adapter and its in-memory twin raise alike, so callers handle them once."""

from __future__ import annotations


class AdapterError(Exception):
    """Base class of the errors the adapters raise on purpose."""


class ConflictError(AdapterError):
    """A conditional write lost: another writer changed the record first. Re-read and decide again."""

    def __init__(self, what: str, key: str, detail: str = "") -> None:
        self.what = what
        self.key = key
        suffix = f": {detail}" if detail else ""
        super().__init__(f"{what} {key!r} was changed by another writer{suffix}")


class AlreadyExistsError(ConflictError):
    """An immutable record (decision, audit object, S3 object) already exists with other content."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(what, key, "it already exists with different content and is never overwritten")


class NotFoundError(AdapterError, LookupError):
    """The named record or resource does not exist."""

    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"{what} {key!r} does not exist")
