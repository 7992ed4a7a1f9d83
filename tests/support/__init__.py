"""Test support shared by tests/reliability, tests/security and tests/fuzz (fault proxy, Lambda model, figures)."""
