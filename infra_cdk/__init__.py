"""The CDK app: stateful and stateless stacks and the embeddable ``Forescale`` construct.

``from infra_cdk import Forescale, Cadence`` (imported lazily: the other modules of this package,
such as the access table, stay importable without starting the CDK's Node runtime).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra_cdk.forescale import Cadence, Forescale
    from infra_cdk.storage import ForescaleStorage, StorageRef

__all__ = ["Cadence", "Forescale", "ForescaleStorage", "StorageRef"]


def __getattr__(name: str) -> Any:
    if name in {"Cadence", "Forescale"}:
        from infra_cdk import forescale

        return getattr(forescale, name)
    if name in {"ForescaleStorage", "StorageRef"}:
        from infra_cdk import storage

        return getattr(storage, name)
    raise AttributeError(f"module 'infra_cdk' has no attribute {name!r}")
