from __future__ import annotations

import subprocess
import sys

from forescale_tools.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_command_exits_2(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "forescale_tools.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: forescale" in result.stdout
