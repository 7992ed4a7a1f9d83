"""Names people type: stack names and the event bus name (the rest is named by CloudFormation)."""

from __future__ import annotations

DEFAULT_STACK_PREFIX = "Forescale"


def stateful_stack_name(prefix: str = DEFAULT_STACK_PREFIX) -> str:
    return f"{prefix}Stateful"


def stateless_stack_name(prefix: str = DEFAULT_STACK_PREFIX) -> str:
    return f"{prefix}Stateless"


def default_bus_name(stack_name: str) -> str:
    """``<stack>-bus``: unique per stack, and short enough to type in ``aws events put-events``."""
    return f"{stack_name}-bus"


def function_role_path(stateful_stack_name: str) -> str:
    """IAM path of the function roles of the deployment whose bus the stateful stack holds: the bus
    takes forescale's pipeline events only from roles under it (``/forescale/<stack>/``)."""
    return f"/forescale/{stateful_stack_name}/"
