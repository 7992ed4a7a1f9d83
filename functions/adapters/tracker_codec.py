"""The forecast record's binary form, kept importable from here; it lives in :mod:`functions.ports.tracker_codec`."""

from __future__ import annotations

from functions.ports.tracker_codec import MAGIC, MAX_VALUES, decode, encode

__all__ = ["MAGIC", "MAX_VALUES", "decode", "encode"]
