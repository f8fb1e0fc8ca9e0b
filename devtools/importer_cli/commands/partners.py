"""``partner``, ``presign``: partners' settings in the import bucket, and presigned upload URLs for them."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from importer_cli import import_options, targets
from importer_cli.commands.common import Handler, command
from importer_cli.display import clip, short_time, stderr, table
from importer_cli.errors import EXIT_OK, CliError


def register(sub: Any) -> dict[str, Handler]:
    _register_partner(sub)
    _register_presign(sub)
    return {"partner": partner_command, "presign": presign_upload}


def partner_command(args: argparse.Namespace) -> int:
    if args.action != "list" and not args.name:
        raise CliError(
            f"partner {args.action} needs the partner's NAME, e.g. `intercom-import partner {args.action} acme`"
        )
    if args.action == "add" and not args.config:
        raise CliError("partner add needs --config FILE: the partner's settings as JSON (docs/partner.schema.json)")
    if args.action != "add" and (args.config or args.replace):
        raise CliError(f"--config and --replace belong to `partner add`, not `partner {args.action}`")
    target = targets.resolve(args)
    assert target is not None
    action = {"add": _partner_add, "show": _partner_show, "remove": _partner_remove}.get(args.action, _partner_list)
    return action(target, args)


def _partner_add(target: targets.Target, args: argparse.Namespace) -> int:
    from importer_cli import partner_commands

    result = partner_commands.add(target, args.name, args.config, replace=args.replace)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return EXIT_OK
    verb = "replaced" if result["replaced"] else "added"
    print(f"Partner {args.name} {verb}: settings stored at {result['settings_key']}")
    _print_onboarding(result)
    return EXIT_OK


def _partner_show(target: targets.Target, args: argparse.Namespace) -> int:
    from importer_cli import partner_commands

    result = partner_commands.show(target, args.name)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return EXIT_OK
    print(f"Partner {args.name}  ({result['settings_key']})")
    print(json.dumps(result["settings"], indent=2, sort_keys=True))
    last = result.get("last_upload_at")
    print(
        f"Uploads: {result['uploads']}"
        + (f", last {short_time(_iso(last))} (job {result.get('last_job_id')})" if last else ", none yet")
    )
    _print_onboarding(result)
    return EXIT_OK


def _partner_remove(target: targets.Target, args: argparse.Namespace) -> int:
    from importer_cli import partner_commands

    result = partner_commands.remove(target, args.name)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"Partner {args.name} removed: uploads under incoming/{args.name}/ now use the stack's defaults")
    return EXIT_OK


def _partner_list(target: targets.Target, args: argparse.Namespace) -> int:
    from importer_cli import partner_commands

    rows = partner_commands.list_all(target)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    if not rows:
        print("no partners yet: add one with `intercom-import partner add NAME --config FILE`")
        return EXIT_OK
    body = [
        (
            r["partner"],
            r["import_type"] or ("-" if r["valid"] else "INVALID"),
            {True: "yes", False: "paused", None: "-"}[r["enabled"]],
            r["expectation"] or "-",
            {True: "OVERDUE", False: "on time", None: "-"}[r["overdue"]],
            short_time(_iso(r["last_upload_at"])) if r["last_upload_at"] else "never",
            r["uploads"],
            clip(", ".join(r["recipients"]) or "-", 40),
        )
        for r in rows
    ]
    headers = ("PARTNER", "TYPE", "ENABLED", "EXPECTED", "SCHEDULE", "LAST UPLOAD (UTC)", "UPLOADS", "RECIPIENTS")
    print(table(headers, body, numeric=[6]))
    for r in rows:
        if r["error"]:
            stderr(f"partner {r['partner']}: {r['error']}")
    return EXIT_OK


def _iso(epoch: float | int | str) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))


def _print_onboarding(result: dict[str, Any]) -> None:
    print("What the partner needs:")
    print(f"  bucket      {result['bucket']}")
    print(f"  prefix      {result['prefix']}   (every file uploaded here is imported with these settings)")
    print(f"  upload      {result['upload_example']}")
    print(f"  or          {result['cli_example']}")
    print(f"  presigned   {result['presign_example']}   (a URL to PUT the file with plain HTTP, no AWS account)")
    print(f"  emails to   {', '.join(result['recipients']) or '(the stack recipients)'}")
    if result.get("expectation"):
        print(f"  expected    {result['expectation']}; the OverduePartners alarm fires when it is late")


def presign_upload(args: argparse.Namespace) -> int:
    from importer_cli import partner_commands

    if args.mapping:
        raise CliError(
            "presign cannot carry a --mapping (a URL uploads one object); put the mapping in the partner's settings"
        )
    target = targets.resolve(args)
    assert target is not None
    result = partner_commands.presign(
        target, args.partner, args.file, expires=args.expires, metadata=import_options.metadata(args)
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(result["url"])
    stderr(f"PUT the file to this URL before {result['expires_at']} (key {result['key']}), e.g.:\n  {result['curl']}")
    return EXIT_OK


def _register_partner(sub: Any) -> None:
    partner = command(
        sub,
        "partner",
        "add, list, show or remove partners (a prefix incoming/NAME/ with its own settings)",
        "A partner is an upload prefix incoming/NAME/ with its own settings: import type, mapping, "
        "existing/role/tags/invalid_rows, recipients of the summary email, which settings a file's manifest "
        "may override, and an optional schedule expectation. Settings are one JSON document per partner in the "
        "import bucket (config/partners/NAME.json), validated by docs/partner.schema.json here and again when an "
        "upload uses them. `add` validates and stores them and prints what the partner needs.",
        target=True,
        as_json="print the result as JSON on stdout",
    )
    partner.add_argument("action", choices=("add", "list", "show", "remove"), help="what to do")
    partner.add_argument("name", metavar="NAME", nargs="?", help="the partner (add, show, remove)")
    partner.add_argument(
        "--config", metavar="FILE", help="add: the partner's settings (JSON, docs/partner.schema.json)"
    )
    partner.add_argument("--replace", action="store_true", help="add: overwrite the settings of an existing partner")


def _register_presign(sub: Any) -> None:
    presign = command(
        sub,
        "presign",
        "print a presigned URL a partner can PUT a file to (no AWS credentials needed)",
        "Print a presigned S3 PUT URL for incoming/PARTNER/<FILE's name>, valid for --expires seconds (at most 7 "
        "days), and a curl command that uses it. Settings given as flags are signed into the URL as object "
        "metadata, so the upload must send the same x-amz-meta-* headers (the curl command does); a partner's "
        "settings decide which of them an upload may change.",
        target=True,
        as_json="print {partner, key, url, method, headers, expires_in, expires_at, curl}",
    )
    presign.add_argument("partner", metavar="PARTNER", help="a partner added with `partner add`")
    presign.add_argument("file", metavar="FILE", help="the name the uploaded file will have (e.g. people.csv)")
    presign.add_argument(
        "--expires", metavar="S", type=int, default=3600, help="seconds the URL stays valid (default 3600)"
    )
    import_options.add_import_options(presign)
