"""The SAM template as the runtime reads it: parsed, local artifact paths rewritten to a placeholder S3 object
(moto needs code to create a function, like ``sam package`` would upload it; the code that runs is read from
the template's local paths), and translated to CloudFormation offline (memoised on disk)."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import DeploymentError
from .stack_model import FunctionSource

PLACEHOLDER_CODE_KEY = "placeholder-code.zip"


def load_template(path: Path) -> dict[str, Any]:
    """Parses a SAM/CloudFormation YAML template (short-form intrinsics as ``{"Fn::...": ...}``).

    Same constructors as ``samtranslator.yaml_helper.yaml_parse``, on a private loader class (that
    helper registers them on PyYAML's global SafeLoader) using libyaml when available.
    """
    import yaml
    from samtranslator.yaml_helper import intrinsics_multi_constructor

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader: Any = type("_TemplateLoader", (base,), {})
    loader.add_multi_constructor("!", intrinsics_multi_constructor)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader subclass


def _local_path(value: Any) -> str | None:
    if isinstance(value, str) and not value.startswith("s3://"):
        return value
    return None


def _layer_dir(layer: dict[str, Any], template_dir: Path) -> Path:
    props = layer.get("Properties", {})
    content = _local_path(props.get("ContentUri"))
    if content is None:
        raise DeploymentError("layers must use a local ContentUri to run locally")
    root = (template_dir / content).resolve()
    build_method = str(layer.get("Metadata", {}).get("BuildMethod", ""))
    # `sam build` with a pythonX.Y BuildMethod puts the ContentUri's content (plus requirements) under
    # /opt/python; without one the ContentUri is zipped as it is, so /opt/python is its python/ folder.
    if build_method.startswith("python"):
        return root
    return root / "python"


def prepare_template(
    sam: dict[str, Any], template_dir: Path, code_bucket: str
) -> tuple[dict[str, Any], dict[str, FunctionSource], dict[str, str], dict[str, str]]:
    """Rewrites local artifact paths to the placeholder S3 object.

    Returns the rewritten template, the functions' code locations, the state machine definitions
    read from ``DefinitionUri``/``Definition`` (logical id -> text) and the S3 objects to upload
    (key -> local file) for definitions.
    """
    original = sam
    sam = copy.deepcopy(sam)
    resources: dict[str, Any] = sam.get("Resources", {})
    original_resources: dict[str, Any] = original.get("Resources", {})
    globals_function = sam.get("Globals", {}).get("Function", {})
    placeholder = {"Bucket": code_bucket, "Key": PLACEHOLDER_CODE_KEY}

    functions: dict[str, FunctionSource] = {}
    definitions: dict[str, str] = {}
    uploads: dict[str, str] = {}
    for logical_id, resource in resources.items():
        props = resource.setdefault("Properties", {})
        rtype = resource.get("Type")
        if rtype == "AWS::Serverless::Function":
            if props.get("PackageType", globals_function.get("PackageType")) == "Image":
                raise DeploymentError(f"{logical_id}: image functions cannot run locally")
            if "InlineCode" in props:
                raise DeploymentError(f"{logical_id}: InlineCode is not supported by the local runtime")
            code_uri = _local_path(props.get("CodeUri", globals_function.get("CodeUri")))
            if code_uri is None:
                raise DeploymentError(f"{logical_id}: CodeUri must be a local folder to run locally")
            layers = list(globals_function.get("Layers", [])) + list(props.get("Layers", []))
            layer_dirs = []
            for layer in layers:
                ref = layer.get("Ref") if isinstance(layer, dict) else None
                target = original_resources.get(ref) if ref else None
                if target is None or target.get("Type") != "AWS::Serverless::LayerVersion":
                    raise DeploymentError(f"{logical_id}: only layers defined in the template can run locally")
                layer_dirs.append(_layer_dir(target, template_dir))
            functions[logical_id] = FunctionSource(logical_id, (template_dir / code_uri).resolve(), tuple(layer_dirs))
            props["CodeUri"] = dict(placeholder)
        elif rtype == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = dict(placeholder)
        elif rtype == "AWS::Serverless::StateMachine":
            uri = _local_path(props.get("DefinitionUri"))
            if uri is not None:
                path = (template_dir / uri).resolve()
                definitions[logical_id] = path.read_text(encoding="utf-8")
                key = f"definitions/{logical_id}.asl.json"
                uploads[key] = str(path)
                props["DefinitionUri"] = {"Bucket": code_bucket, "Key": key}
            elif isinstance(props.get("Definition"), dict):
                definitions[logical_id] = json.dumps(props["Definition"], indent=2)
    if "CodeUri" in globals_function:
        globals_function["CodeUri"] = dict(placeholder)
    return sam, functions, definitions, uploads


def translate_cached(
    sam: dict[str, Any], parameters: Mapping[str, str], region: str, cache_dir: Path | None
) -> dict[str, Any]:
    """:func:`translate`, memoised on disk by the exact input (saves importing the translator, ~0.7 s)."""
    if cache_dir is None:
        return translate(sam, parameters, region)
    from importlib.metadata import version

    material = json.dumps([sam, dict(parameters), region, version("aws-sam-translator")], sort_keys=True, default=str)
    path = cache_dir / f"{hashlib.sha256(material.encode('utf-8')).hexdigest()}.json"
    if path.exists():
        try:
            translated: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            os.utime(path)  # most recently used
            return translated
        except (ValueError, OSError):
            path.unlink(missing_ok=True)
    translated = translate(sam, parameters, region)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(translated), encoding="utf-8")
    tmp.replace(path)
    _prune(cache_dir, keep=TRANSLATION_CACHE_ENTRIES)
    return translated


# Parameters are part of the key (a test's sandbox URL changes with its port), so the cache is bounded:
# the least recently used translations go first.
TRANSLATION_CACHE_ENTRIES = 32


def _prune(cache_dir: Path, keep: int) -> None:
    entries = []
    for entry in cache_dir.glob("*.json"):
        with contextlib.suppress(OSError):
            entries.append((entry.stat().st_mtime, entry))
    for _, entry in sorted(entries, reverse=True)[keep:]:
        entry.unlink(missing_ok=True)


def translate(sam: dict[str, Any], parameters: Mapping[str, str], region: str) -> dict[str, Any]:
    """SAM -> CloudFormation offline, like ``samtranslator.translator.transform.transform`` but with an
    explicit region (no AWS configuration is read) and no managed-policy lookups (the translator's
    bundled map covers AWS's policy names)."""
    import boto3
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.parser.parser import Parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    values = dict(parameters)
    session = boto3.session.Session(region_name=region)
    to_py27_compatible_template(sam, values)
    metrics = Metrics(metrics_publisher=DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
    try:
        translated = translator.translate(sam, parameter_values=values, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in exc.causes)
        raise DeploymentError(f"SAM translation failed: {causes}") from exc
    finally:
        metrics.publish()
    return undo_mark_unicode_str_in_template(translated)


def placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Placeholder: the local runtime runs the code from the template's folders.\n")
    return buffer.getvalue()
