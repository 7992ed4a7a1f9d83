"""Find credentials in text: AWS keys, private keys, tokens, passwords in URLs.

Documentation example keys (``AKIAIOSFODNN7EXAMPLE`` and the like, ending in ``EXAMPLE``) and the
test suite's fake credentials are not secrets and are allowed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PATTERNS: dict[str, re.Pattern[str]] = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)(?:aws_?secret_?access_?key|secretaccesskey)[\"'\s:=]+[\"']?([A-Za-z0-9/+=]{40})\b"
    ),
    "AWS session token": re.compile(r"(?i)(?:aws_?session_?token|sessiontoken)[\"'\s:=]+[\"']?([A-Za-z0-9/+=]{100,})"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    "password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s:@]{3,})@"),
}
ALLOWED = re.compile(r"EXAMPLE|\btesting\b|(?:xxx|\*\*\*)")
#: files never scanned: lock files (hashes), binary data, vendored packages
SKIP_SUFFIXES = {".lock", ".parquet", ".png", ".jpg", ".gz", ".zip", ".pkl", ".whl", ".pyc"}
SKIP_NAMES = {"uv.lock", "package-lock.json"}


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str
    excerpt: str


def findings_in(text: str, where: str) -> list[Finding]:
    out = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            excerpt = text[max(0, match.start() - 20) : match.end() + 20]
            if not ALLOWED.search(match.group(0)):
                out.append(Finding(where, kind, excerpt.replace("\n", " ")))
    return out


def repository_files() -> Iterator[Path]:
    """Every file git would commit: tracked ones and new ones that are not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in sorted(set(filter(None, listed.split("\0")))):
        path = REPO / name
        if path.is_file() and path.suffix not in SKIP_SUFFIXES and path.name not in SKIP_NAMES:
            yield path


def scan_repository() -> tuple[int, list[Finding]]:
    """``(files scanned, findings)``."""
    scanned, found = 0, []
    for path in repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        scanned += 1
        found += findings_in(text, str(path.relative_to(REPO)))
    return scanned, found
