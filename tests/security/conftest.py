"""Fixtures of the security tests: recorded figures, and the moto deployment of the reliability tests."""

from tests.support.plugin import figures  # noqa: F401
from tests.support.world import fault_proxy, world  # noqa: F401
