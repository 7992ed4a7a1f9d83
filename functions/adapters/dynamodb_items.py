"""Key-value access to the tables (the item engine) and the few write conditions the store uses.

:class:`DynamoItems` is the engine on DynamoDB; :class:`forescale_tools.memory.InMemoryItems` is its twin,
so the store above them is one class whatever holds the items.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from functions.adapters.dynamodb_codec import from_item, to_attribute, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@dataclass(frozen=True)
class Condition:
    """The few write conditions the store uses, so DynamoDB and the twin evaluate the same thing.

    ``absent``: no item with the key; ``equals``: ``attribute == value``; ``absent_or_at_most``: no
    item, or ``attribute <= value``.
    """

    kind: str
    attribute: str = ""
    value: Any = None


ABSENT = Condition("absent")


class ConditionFailedError(Exception):
    """Internal: the item engine refused a conditional put."""


class ItemEngine(Protocol):
    """Key-value access to the tables in plain Python values (see :func:`to_item`)."""

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None: ...

    def put(self, table: str, values: Mapping[str, Any], condition: Condition | None = None) -> None:
        """Store the item; raises :class:`ConditionFailedError` when ``condition`` does not hold."""
        ...

    def query(self, table: str, pk: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        """Items with ``pk`` and ``low <= sk <= high``, ascending by ``sk``."""
        ...


class DynamoItems:
    """:class:`ItemEngine` on DynamoDB through an injected low-level client (strongly consistent reads)."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def put(self, table: str, values: Mapping[str, Any], condition: Condition | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": table, "Item": to_item(values)}
        if condition is not None:
            if condition.kind == "absent":
                kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
            elif condition.kind == "equals":
                kwargs["ConditionExpression"] = "#a = :v"
            elif condition.kind == "absent_or_at_most":
                kwargs["ConditionExpression"] = "attribute_not_exists(pk) OR #a <= :v"
            else:
                raise ValueError(f"condition: unknown kind {condition.kind!r}")
            if condition.kind != "absent":
                kwargs["ExpressionAttributeNames"] = {"#a": condition.attribute}
                kwargs["ExpressionAttributeValues"] = {":v": to_attribute(condition.value)}
        try:
            self._client.put_item(**kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailedError from error
            raise

    def query(self, table: str, pk: str, low: str, high: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": low}, ":hi": {"S": high}},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**kwargs)
            for item in response.get("Items", []):
                yield from_item(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last
