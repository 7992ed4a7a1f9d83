"""Fixtures of the reliability tests: the fault proxy, a deployment behind it, recorded figures."""

from tests.support.plugin import figures  # noqa: F401
from tests.support.world import fault_proxy, world  # noqa: F401
