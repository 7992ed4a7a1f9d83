"""The ``forescale`` command: ``forescale <command> [options]``.

Each command lives in its own module with its own ``main(argv) -> int``; this module only dispatches,
so that ``forescale --help`` stays fast (no pandas, no statsforecast at import).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "backtest": ("forescale_tools.backtest_cli", "rolling-origin backtest of every model on a timestamp,value CSV"),
    "replay": (
        "forescale_tools.replay_cli",
        "replay a trace through forescale, reactive and oracle; write a report",
    ),
    "history": ("forescale_tools.history_cli", "export a target's load history from CloudWatch as a replay trace"),
    "local": ("forescale_tools.local_cli", "run the whole pipeline locally against moto's server"),
    "targets": (
        "forescale_tools.targets_cli",
        "list, put, set-mode or remove targets, and the kill switch (no deploy)",
    ),
}


def _usage() -> str:
    lines = ["usage: forescale <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"forescale: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    code: int = module.main(rest)
    return code


if __name__ == "__main__":
    sys.exit(main())
