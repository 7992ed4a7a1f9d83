"""Domain services: what each Lambda function does, over ports, with time and ids injected.

A handler parses its event and calls one service; a service orchestrates the ports of
:mod:`functions.ports` (DynamoDB, S3, CloudWatch, EventBridge, capacity; implemented in
:mod:`functions.adapters`) around the pure core of :mod:`functions.domain` and :mod:`models`.
Services never import an adapter, boto3 or Powertools (``tests/unit/test_architecture.py`` follows what
they import) and never read the environment: :mod:`functions.wiring` builds them with real adapters,
the tests and the local router with the same adapters on moto's server or with the in-memory twins.
"""
