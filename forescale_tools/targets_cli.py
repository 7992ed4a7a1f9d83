"""``forescale targets``: list, add or replace, switch the mode of, or remove targets, and the kill switch,
without a deploy, through the operator API (SigV4-signed requests to its function URL).

    forescale targets list
    forescale targets put web.json                      # one ScalingTarget as JSON ('-': standard input)
    forescale targets set-mode web-asg floor
    forescale targets remove web-asg
    forescale targets kill-switch on --reason "incident 42" [--target web-asg]
    forescale targets kill-switch off --reason resolved

The API's URL comes from ``--url`` or ``FORESCALE_API_URL`` (the stack's ``OperatorApiUrl`` output); the
credentials and region from the usual AWS configuration. A target is validated here first, then by the API:
either refusal names the field and the reason. Changes go to the operator's configuration object, which a
deploy never overwrites, and reach every function within one collection round. The executor changes only
groups and services tagged ``forescale:enabled=true``: tag a group before switching it to ``floor`` or
``direct``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from pydantic import ValidationError

from events.errors import field_errors

#: ``send(method, path, body) -> (status, decoded JSON body)``: the transport (signed HTTPS, or a test's).
Send = Callable[[str, str, bytes | None], tuple[int, Any]]
MODES = ("forecast_only", "floor", "direct")


def signed_sender(url: str, region: str | None = None) -> Send:
    """Requests to the operator API at ``url``, signed with SigV4 for ``lambda`` (function URL, AWS_IAM auth)."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit("forescale targets: no AWS credentials found (the operator API takes signed requests only)")
    host = urlparse(url).hostname or ""
    # <id>.lambda-url.<region>.on.aws
    parts = host.split(".")
    region = region or (parts[2] if len(parts) > 3 and parts[1] == "lambda-url" else session.region_name)
    if not region:
        raise SystemExit("forescale targets: give the region (AWS_REGION) of the operator API")
    base = url.rstrip("/")

    def send(method: str, path: str, body: bytes | None) -> tuple[int, Any]:
        request = AWSRequest(method=method, url=base + path, data=body, headers={"content-type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "lambda", region).add_auth(request)
        prepared = urllib.request.Request(base + path, data=body, headers=dict(request.headers), method=method)
        try:
            with urllib.request.urlopen(prepared, timeout=30) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        return status, json.loads(text) if text else None

    return send


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forescale targets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("FORESCALE_API_URL"), help="operator API URL")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every target with its source and mode")
    put = commands.add_parser("put", help="add a target or replace the one with its id")
    put.add_argument("file", help="one ScalingTarget as JSON ('-' reads standard input)")
    mode = commands.add_parser("set-mode", help="switch a target's mode")
    mode.add_argument("target_id")
    mode.add_argument("mode", choices=MODES)
    remove = commands.add_parser("remove", help="stop managing a target (until put again)")
    remove.add_argument("target_id")
    kill = commands.add_parser("kill-switch", help="stop (on) or resume (off) every capacity change")
    kill.add_argument("state", choices=("on", "off"))
    kill.add_argument("--reason", required=True, help="why (kept with the switch)")
    kill.add_argument("--target", dest="target_id", help="one target's switch (default: the global one)")
    return parser


def _target_body(file: str) -> tuple[str, bytes] | str:
    """``(target_id, body)`` of a valid target file, or the refusal naming the field."""
    from functions.domain.target import ScalingTarget

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as error:
        return f"{file}: {error.strerror}"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return f"{file}: not JSON ({error.msg} at line {error.lineno})"
    try:
        target = ScalingTarget.model_validate(raw)
    except ValidationError as error:
        return "\n".join(f"{file}: {e['field']}: {e['reason']}" for e in field_errors(error))
    return target.target_id, json.dumps(raw).encode()


def _table(views: list[dict[str, Any]]) -> str:
    rows = [("target_id", "kind", "resource", "mode", "source")]
    for view in views:
        target = view["target"]
        resource = target.get("asg_name") or f"{target.get('ecs_cluster')}/{target.get('ecs_service')}"
        mode = target["mode"] + (" (operator)" if view.get("mode_set_by_operator") else "")
        rows.append((target["target_id"], target["kind"], resource, mode, view.get("source", "")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def main(argv: list[str] | None = None, *, send: Send | None = None) -> int:
    args = _parser().parse_args(argv)
    if send is None:
        if not args.url:
            print("forescale targets: give --url or set FORESCALE_API_URL (the OperatorApiUrl output)", file=sys.stderr)
            return 2
        send = signed_sender(args.url)
    method, path, body = "GET", "/targets", None
    if args.command == "put":
        checked = _target_body(args.file)
        if isinstance(checked, str):
            print(checked, file=sys.stderr)
            return 2
        target_id, body = checked
        method, path = "PUT", f"/targets/{quote(target_id, safe='')}"
    elif args.command == "set-mode":
        method, path = "PUT", f"/targets/{quote(args.target_id, safe='')}/mode"
        body = json.dumps({"mode": args.mode}).encode()
    elif args.command == "remove":
        method, path = "DELETE", f"/targets/{quote(args.target_id, safe='')}"
    elif args.command == "kill-switch":
        method, path = "PUT", "/kill-switch"
        change = {"engaged": args.state == "on", "reason": args.reason, "target_id": args.target_id}
        body = json.dumps(change).encode()
    status, answer = send(method, path, body)
    if status >= 300:
        errors = (answer or {}).get("errors") or [{"field": "(response)", "reason": f"HTTP {status}"}]
        for error in errors:
            print(f"forescale targets {args.command}: {error['field']}: {error['reason']}", file=sys.stderr)
        return 1
    print(_table(answer) if args.command == "list" else json.dumps(answer, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
