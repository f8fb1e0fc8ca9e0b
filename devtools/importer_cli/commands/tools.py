"""``sample``, ``validate``, ``sandbox``: a template CSV, the validator's checks run locally, the Intercom sandbox."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from importer_cli import import_options, local_stack, targets
from importer_cli.commands.common import Handler, command
from importer_cli.display import stderr
from importer_cli.errors import EXIT_IMPORT_PROBLEMS, EXIT_OK, CliError
from importer_cli.import_options import load_config


def register(sub: Any) -> dict[str, Handler]:
    """``sample`` and ``validate`` (``sandbox`` is registered last, by :func:`register_sandbox`)."""
    _register_sample(sub)
    _register_validate(sub)
    return {"sample": write_sample, "validate": validate_local}


def register_sandbox(sub: Any) -> None:
    """``sandbox`` in the help; ``main`` hands its arguments to the sandbox's own command line."""
    _register_sandbox(sub)


def write_sample(args: argparse.Namespace) -> int:
    from importer_cli.sample import sample, sample_csv

    text = sample_csv(args.import_type)
    info = sample(args.import_type)
    to_stdout = args.output in (None, "-")
    if not to_stdout:
        out = Path(args.output)
        if out.exists() and not args.force:
            raise CliError(f"-o {out}: the file exists; pick another name or add --force to overwrite it")
        if not out.parent.is_dir():
            raise CliError(f"-o {out}: folder {out.parent} does not exist")
        out.write_text(text, encoding="utf-8", newline="")
    if args.json:
        result = {**info, "path": None if to_stdout else str(args.output)}
        if to_stdout:
            result["csv"] = text
        print(json.dumps(result, indent=2))
    elif to_stdout:
        sys.stdout.write(text)
    if not args.json:
        stderr(
            (f"wrote {args.output}: " if not to_stdout else "")
            + f"{len(info['standard_columns'])} standard columns, custom column {', '.join(info['custom_columns'])} "
            "(any column that is not a standard attribute is imported as a custom data attribute); "
            "empty cells leave values unchanged"
        )
    return EXIT_OK


def validate_local(args: argparse.Namespace) -> int:
    from importer_cli import partner_commands, validate_command

    config = load_config(args.config)
    partner = None
    if args.partner_config and not args.partner:
        raise CliError("--partner-config needs --partner NAME: the prefix the partner's files are uploaded to")
    if args.partner:
        if args.partner_config:
            document = partner_commands.read_config(args.partner_config)
            partner = partner_commands.parse(args.partner, document, source=f"the settings in {args.partner_config}")
        else:
            target = targets.resolve(args)
            assert target is not None
            partner = partner_commands.require(target, args.partner)
    intercom = None
    token = args.intercom_token or os.environ.get(local_stack.TOKEN_ENV)
    if args.intercom_url or args.intercom_region:
        if not token:
            raise CliError(
                f"reading the workspace's data attributes needs --intercom-token (or ${local_stack.TOKEN_ENV})"
            )
        from intercom_importer.intercom import build_client, resolve_base_url

        intercom = build_client(token=token, base_url=resolve_base_url(args.intercom_region, args.intercom_url))
    errors_out = Path(args.errors) if args.errors else None
    if errors_out is not None and not errors_out.parent.is_dir():
        raise CliError(f"--errors {args.errors}: folder {errors_out.parent} does not exist")
    result = validate_command.validate_file(
        Path(args.file),
        metadata=import_options.metadata(args, config),
        manifest=import_options.manifest(args, config),
        partner=partner,
        intercom=intercom,
        parameters=config.get("parameters") or {},
        errors_out=errors_out,
        problems_shown=args.limit,
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print_validation(result)
    return EXIT_OK if result["valid"] else EXIT_IMPORT_PROBLEMS


def _print_validation(result: dict[str, Any]) -> None:
    where = f" (partner {result['partner']})" if result.get("partner") else ""
    if result["outcome"] == "rejected" and not result["rows"]:
        print(f"{result['file']}{where}: REJECTED")
        print(f"  {result['rejection']}")
        return
    shape = f"{result['import_type']}, {result['encoding']}, delimiter {result['delimiter']!r}"
    invalid = result["invalid_rows"]
    verdict = (
        "OK" if result["valid"] else ("REJECTED" if result["outcome"] == "rejected" else "IMPORTABLE, WITH ERRORS")
    )
    print(
        f"{result['file']}{where}: {verdict}: {result['rows']} rows, {result['valid_rows']} valid, {invalid} invalid ({shape})"
    )
    if result.get("blank_lines"):
        print(f"  {result['blank_lines']} blank lines ignored (not rows)")
    if result.get("unrecognisable_rows"):
        print(
            f"  {result['unrecognisable_rows']} rows have no email, external_id, id or phone with a name: "
            "importing the file again creates them again"
        )
    if result.get("rejection"):
        print(f"  {result['rejection']}")
    if result["outcome"] == "accepted":
        print(
            f"  would be imported in {result['chunks']} chunk(s)"
            + (f", {result['companies']} companies" if result["companies"] else "")
        )
    if result.get("settings"):
        settings = result["settings"]
        print("  settings: " + ", ".join(f"{k}={v}" for k, v in settings.items() if v not in (None, [], False)))
    print("Columns:")
    for column in result["columns"]:
        kind = f"custom {column['type']}" if column.get("custom") else column["type"]
        print(f"  {column['column']!s:<28} -> {column['attribute']} ({kind})")
    for attribute in result["new_attributes"]:
        print(f"New custom attribute: {attribute['name']} ({attribute['data_type']})")
    for note in result["attribute_notes"]:
        print(f"Note: {note}")
    if result["errors"]:
        print(f"Problems (first {len(result['errors'])} of {invalid} invalid rows):")
        for row in result["errors"]:
            for problem in row["problems"]:
                column = f", column {problem['column']}" if problem.get("column") else ""
                value = f" {problem['value']!r}" if problem.get("value") else ""
                print(f"  line {row['line']}{column}:{value} {problem['message']}")
    if result.get("errors_file"):
        print(f"Error file (every invalid row with its problems; fix and upload it): {result['errors_file']}")
    if not result["workspace_checked"] and result["new_attributes"]:
        print(
            "Custom attributes were checked against an empty workspace; give --intercom-url/--intercom-region and "
            "--intercom-token to check them against yours (read only)."
        )


def run_sandbox(argv: Sequence[str]) -> int:
    from intercom_sandbox.cli import run_cli

    return run_cli(list(argv), prog="intercom-import sandbox")


def _register_sample(sub: Any) -> None:
    sample = command(
        sub,
        "sample",
        "write a template CSV (every standard attribute, a custom one, example rows)",
        "Write a template CSV for a people or companies import: every standard attribute the importer knows, "
        "one example custom attribute column, and example rows that pass validation. Empty cells leave "
        "values unchanged; any column that is not a standard attribute becomes a custom data attribute.",
        as_json="print the columns and rows as JSON (with the CSV text when writing to stdout)",
    )
    sample.add_argument("import_type", metavar="people|companies", choices=("people", "companies"))
    sample.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    sample.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def _register_validate(sub: Any) -> None:
    validate = command(
        sub,
        "validate",
        "check a CSV file exactly as the validator Lambda would, locally; nothing is imported",
        "Run the validator's own code on FILE, locally (an in-process moto stands in for S3 and DynamoDB): "
        "encoding, header, column mapping, custom attributes, every row against the JSON Schema, duplicate "
        "identifiers, the invalid-rows policy. Prints what an upload would give: accepted or rejected, the "
        "columns as matched, the custom attributes it would create, and every problem with its line, column and "
        "fix (--errors writes the error CSV the summary email links to). Intercom is never written; with "
        "--intercom-url/--intercom-region and a token its data attributes are read, so the attribute checks are "
        "exact. --partner NAME applies that partner's settings (from the target stack, or --partner-config FILE).",
        target=True,
        as_json="print the validation report as JSON (outcome, counts, columns, new attributes, errors)",
    )
    validate.add_argument("file", metavar="FILE", help="the CSV file to check")
    import_options.add_import_options(validate)
    validate.add_argument(
        "--partner", metavar="NAME", help="check it as an upload to incoming/NAME/ (its settings apply)"
    )
    validate.add_argument(
        "--partner-config",
        metavar="FILE",
        help="the partner's settings from FILE instead of the stack (before `partner add`)",
    )
    validate.add_argument("--config", metavar="FILE", help="JSON: import settings and template parameters, like `run`")
    validate.add_argument("--errors", metavar="FILE", help="write the error CSV (invalid rows and their problems) here")
    validate.add_argument("--limit", metavar="N", type=int, default=20, help="problems shown (default 20)")
    workspace = validate.add_argument_group("Intercom workspace (read only; default: none)")
    workspace.add_argument("--intercom-url", metavar="URL", help="Intercom API base URL (or a stand-in)")
    workspace.add_argument("--intercom-region", choices=("US", "EU", "AU"), help="Intercom's regional API host")
    workspace.add_argument("--intercom-token", metavar="TOKEN", help=f"access token (or ${local_stack.TOKEN_ENV})")


def _register_sandbox(sub: Any) -> None:
    sandbox = sub.add_parser(
        "sandbox",
        help="serve the stateful Intercom sandbox",
        description="Serve the local Intercom sandbox (any Bearer token is accepted unless --token is given).",
        add_help=False,
    )
    sandbox.add_argument("args", nargs=argparse.REMAINDER, help="options of the sandbox (--port N --token T ...)")
