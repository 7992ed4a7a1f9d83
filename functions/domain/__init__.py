"""The pure domain core: configuration, policy, planning and replay.

Never imports boto3, Powertools or ``os.environ`` (``tests/unit/test_architecture.py`` enforces it):
time and ids come in as arguments so the same code runs in Lambda, in the replay and in tests.
"""
