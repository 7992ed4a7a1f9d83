"""Names people type (stack names, the event bus name; the rest is named by CloudFormation), and the
construct-id parts made from function and target names, which the logical ids derive from."""

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


def pascal(name: str) -> str:
    """The construct-id part of a function or layer name: ``alarm_responder`` -> ``AlarmResponder``."""
    return "".join(part.capitalize() for part in name.split("_"))


def logical_suffix(target_id: str) -> str:
    """A construct id part for a target: ``/`` separates construct paths, so it is replaced."""
    return target_id.replace("/", "__")
