"""DynamoDB tables of forescale: one definition used by the adapters, the tests and the CDK stack.

All application tables use a generic string key pair ``pk``/``sk`` and an epoch-seconds TTL attribute
``expires_at`` so that each record type picks its own layout (documented in the adapter) without a
schema migration. The idempotency table follows Powertools' layout (``id``, TTL ``expiration``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """Key schema of one table; ``logical_name`` names it in CDK and in the wiring's environment."""

    logical_name: str
    env_var: str
    partition_key: str
    sort_key: str | None
    ttl_attribute: str | None
    purpose: str


STATE = TableSpec(
    "State",
    "STATE_TABLE",
    "pk",
    "sk",
    "expires_at",
    "per-target state (capacity, sequence, last actions), latest forecasts, kill switch",
)
AUDIT = TableSpec(
    "Audit",
    "AUDIT_TABLE",
    "pk",
    "sk",
    None,
    "immutable decisions and actions, queryable by target and time (never updated)",
)
BUSINESS_EVENTS = TableSpec(
    "BusinessEvents",
    "BUSINESS_EVENTS_TABLE",
    "pk",
    "sk",
    "expires_at",
    "accepted business events per target, learned effects per event type, rejected events",
)
MODEL_REGISTRY = TableSpec(
    "ModelRegistry",
    "MODEL_REGISTRY_TABLE",
    "pk",
    "sk",
    None,
    "model versions per target, their scores and the champion pointer",
)
IDEMPOTENCY = TableSpec(
    "Idempotency",
    "IDEMPOTENCY_TABLE",
    "id",
    None,
    "expiration",
    "Powertools idempotency records of the executor, keyed by decision id",
)

ALL_TABLES: tuple[TableSpec, ...] = (STATE, AUDIT, BUSINESS_EVENTS, MODEL_REGISTRY, IDEMPOTENCY)


def create_table_kwargs(spec: TableSpec, table_name: str) -> dict[str, object]:
    """``CreateTable`` arguments for tests and local runs (on-demand billing, as deployed)."""
    keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    attributes = [{"AttributeName": spec.partition_key, "AttributeType": "S"}]
    if spec.sort_key:
        keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
        attributes.append({"AttributeName": spec.sort_key, "AttributeType": "S"})
    return {
        "TableName": table_name,
        "KeySchema": keys,
        "AttributeDefinitions": attributes,
        "BillingMode": "PAY_PER_REQUEST",
    }
