"""The tools around forescale, never shipped to Lambda: the ``forescale`` command (replay, backtest, history,
local), the local event router, the replay report and the in-memory twins of the adapters."""
