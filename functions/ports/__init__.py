"""Ports: what the services need from the outside world, as Protocols, and the records and errors they carry.

Services depend on these and on :mod:`functions.domain`; :mod:`functions.adapters` implements them (AWS,
and the in-memory twins). Nothing here imports boto3 or an adapter (``tests/unit/test_architecture.py``).
"""
