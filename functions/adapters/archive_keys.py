"""The key layout of forescale's bucket: where a target's history, audit records and models live.

A target id is percent-encoded in a key (:func:`encode_id`); batched history and audit records are sharded by a
checksum of the id (:func:`history_shard`), so Athena finds a target's shard as ``crc32(to_utf8(target_id)) % 16``.

Keys (``<id>`` is the target id percent-encoded, so ``/`` or ``:`` in an id cannot break the layout)::

    history/shard=SS/date=YYYY-MM-DD/part-<part_id>!<digest>.parquet   one collector round of a shard's targets
    history/shard=SS/date=YYYY-MM-DD/compacted/<99999999-N>.parquet    compaction generation N (newest lists first)
    history/shard=SS/date=YYYY-MM-DD/day.parquet                       the finished day (final compaction)
    history/layout.json                                                written once: until when per-target objects exist
    history/target=<id>/date=YYYY-MM-DD/...                            per-target objects of earlier versions (read only)
    audit/shard=SS/date=YYYY-MM-DD/<HHMMSS>-<batch_id>!<digest>.parquet  one invocation's audit records of a
                                                                       shard's targets, recorded at HH:MM:SS (in the
                                                                       audit bucket; <digest>: of the content)
    audit/target=<id>/date=YYYY-MM-DD/<record_id>.parquet              one audit record of one target (the executor,
                                                                       the alarm responder, earlier versions)
    models/<id>/<version>/<relative path>                              artifact files, then
    models/<id>/<version>/metadata.json                                written last: files, sizes, sha256
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from urllib.parse import quote

# the shards are the archive's (callers group their batches by them), part of the key layout
from functions.ports.archive import HISTORY_SHARDS, history_shard  # noqa: F401 (re-exported)

_PART_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]{0,199}$")


def encode_id(value: str) -> str:
    return quote(value, safe="")


def history_prefix(target_id: str) -> str:
    return f"history/target={encode_id(target_id)}/"


def history_day_prefix(target_id: str, day: date) -> str:
    return f"{history_prefix(target_id)}date={day.isoformat()}/"


def shard_day_prefix(shard: str, day: date) -> str:
    return f"history/shard={shard}/date={day.isoformat()}/"


def audit_prefix(target_id: str) -> str:
    return f"audit/target={encode_id(target_id)}/"


def audit_shard_day_prefix(shard: str, day: date) -> str:
    return f"audit/shard={shard}/date={day.isoformat()}/"


def model_prefix(target_id: str, version: str) -> str:
    return f"models/{encode_id(target_id)}/{encode_id(version)}/"


def check_part_id(part_id: str, field: str) -> None:
    if not _PART_ID.match(part_id) or part_id.startswith("compacted"):
        raise ValueError(
            f"{field}: {part_id!r} must be 1-200 characters from A-Z a-z 0-9 _ . = - and not start with 'compacted'"
        )


def days_between(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
