"""Fixtures of the fuzz tests: recorded figures."""

from tests.support.plugin import figures  # noqa: F401
