"""Deploys a SAM template to moto: offline SAM translation, ``CreateStack``, then the fix-ups moto skips.

The stack's resources come from the template only (no second, hand-kept list). Local ``CodeUri``,
``ContentUri`` and ``DefinitionUri`` are rewritten to a placeholder S3 object first (moto needs code
to create a function, like ``sam package`` would upload it); the code that actually runs is read from
the template's local paths.

Values the fix-ups need (ARNs in ``DefinitionSubstitutions``, the function named by a bucket
notification, a conditional email identity...) are resolved by moto's CloudFormation itself: every
intrinsic function they contain is added to the template as an extra ``Output`` and read back after
the stack is created, so ``Ref``/``GetAtt``/``Sub``/``Join``/``If`` follow one code path, the
same one that resolves the functions' environment variables.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DeploymentError

INTRINSICS = frozenset(
    {
        "Ref",
        "Condition",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::If",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::ImportValue",
        "Fn::Base64",
        "Fn::GetAZs",
        "Fn::Cidr",
        "Fn::Equals",
        "Fn::And",
        "Fn::Or",
        "Fn::Not",
    }
)
OUTPUT_PREFIX = "LocalRuntimeValue"
PLACEHOLDER_CODE_KEY = "placeholder-code.zip"


# ---------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class FunctionSource:
    """Where a function's code lives on disk, read from the SAM template."""

    logical_id: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]


@dataclass(frozen=True)
class EventSourceMapping:
    """An SQS event source mapping as Lambda holds it after the stack was created."""

    logical_id: str | None
    uuid: str
    function_logical_id: str
    function_arn: str
    queue_arn: str
    queue_url: str
    batch_size: int
    maximum_batching_window: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool


@dataclass
class Deployment:
    stack_name: str
    stack_id: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    resources: dict[str, dict[str, str]]  # logical id -> {"type", "physical_id", "status"}
    functions: dict[str, FunctionSource]
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)  # bucket -> API config
    email_identities: list[str] = field(default_factory=list)
    configuration_sets: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ deferred values
class _Pending:
    __slots__ = ("key", "presence")

    def __init__(self, key: str, presence: bool = False) -> None:
        self.key = key
        self.presence = presence

    def __repr__(self) -> str:
        return f"<resolved by output {self.key}>"


class _Absent:
    """Marker for a value whose Condition is false (the output does not exist)."""


ABSENT = _Absent()


class DeferredValues:
    """Turns intrinsic functions into extra stack Outputs and substitutes the resolved values back."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[str, Any]] = {}

    def defer(self, value: Any, condition: str | None = None) -> Any:
        """Returns ``value`` with every intrinsic replaced by a placeholder resolved after CreateStack."""
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in INTRINSICS:
                return self._output(value, condition)
            return {k: self.defer(v, condition) for k, v in value.items()}
        if isinstance(value, list):
            return [self.defer(v, condition) for v in value]
        return value

    def presence(self, condition: str | None) -> Any:
        """A placeholder that resolves to ``True`` only when ``condition`` holds (or is None)."""
        if condition is None:
            return True
        return self._output("present", condition, presence=True)

    def _output(self, expression: Any, condition: str | None, presence: bool = False) -> _Pending:
        key = f"{OUTPUT_PREFIX}{len(self.outputs)}"
        output: dict[str, Any] = {"Value": expression}
        if condition:
            output["Condition"] = condition
        self.outputs[key] = output
        return _Pending(key, presence)

    @staticmethod
    def resolve(value: Any, resolved: Mapping[str, str]) -> Any:
        if isinstance(value, _Pending):
            found = resolved.get(value.key, ABSENT)
            return found is not ABSENT if value.presence else found
        if isinstance(value, dict):
            return {k: DeferredValues.resolve(v, resolved) for k, v in value.items()}
        if isinstance(value, list):
            return [DeferredValues.resolve(v, resolved) for v in value]
        return value


# ----------------------------------------------------------------------------- SAM template
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


# ------------------------------------------------------------------------------------ fix-ups
_SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")


def substitute_definition(definition: str, substitutions: Mapping[str, Any]) -> str:
    """``DefinitionSubstitutions`` as Step Functions applies them: ``${Key}`` for declared keys only."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in substitutions:
            value = substitutions[key]
            return value if isinstance(value, str) else json.dumps(value)
        return match.group(0)

    return _SUBSTITUTION.sub(replace, definition)


def notification_to_api(config: Mapping[str, Any]) -> dict[str, Any]:
    """A bucket's CloudFormation ``NotificationConfiguration`` in PutBucketNotificationConfiguration form."""

    def rules(entry: Mapping[str, Any]) -> dict[str, Any]:
        s3_key = entry.get("Filter", {}).get("S3Key", {})
        if not s3_key:
            return {}
        return {"Filter": {"Key": {"FilterRules": [dict(rule) for rule in s3_key.get("Rules", [])]}}}

    api: dict[str, Any] = {}
    for cfn_key, api_key, target_cfn, target_api in (
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
    ):
        entries = []
        for entry in config.get(cfn_key, []):
            item = {target_api: entry[target_cfn], "Events": [entry["Event"]], **rules(entry)}
            entries.append(item)
        if entries:
            api[api_key] = entries
    if config.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        api["EventBridgeConfiguration"] = {}
    return api


BUCKET_PROPERTIES_MOTO_SKIPS = (
    "VersioningConfiguration",
    "LifecycleConfiguration",
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
    "NotificationConfiguration",
)


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def lifecycle_to_api(config: Mapping[str, Any]) -> dict[str, Any]:
    """A bucket's CloudFormation ``LifecycleConfiguration`` in PutBucketLifecycleConfiguration form."""
    rules = []
    for rule in config.get("Rules", []):
        item: dict[str, Any] = {"Status": rule["Status"]}
        if "Id" in rule:
            item["ID"] = rule["Id"]
        tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
        prefix = rule.get("Prefix")
        if tags and (prefix is not None or len(tags) > 1):
            item["Filter"] = {"And": {**({"Prefix": prefix} if prefix is not None else {}), "Tags": tags}}
        elif tags:
            item["Filter"] = {"Tag": tags[0]}
        else:
            item["Filter"] = {"Prefix": prefix or ""}
        if "ExpirationInDays" in rule:
            item["Expiration"] = {"Days": _number(rule["ExpirationInDays"])}
        elif "ExpirationDate" in rule:
            item["Expiration"] = {"Date": rule["ExpirationDate"]}
        if "NoncurrentVersionExpiration" in rule:
            days = rule["NoncurrentVersionExpiration"].get("NoncurrentDays")
            item["NoncurrentVersionExpiration"] = {"NoncurrentDays": _number(days)}
        elif "NoncurrentVersionExpirationInDays" in rule:
            item["NoncurrentVersionExpiration"] = {"NoncurrentDays": _number(rule["NoncurrentVersionExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in rule:
            days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            item["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": _number(days)}
        rules.append(item)
    return {"Rules": rules}


def _configure_bucket(s3: Any, bucket: str, props: Mapping[str, Any], deployment: Deployment) -> None:
    """Bucket properties moto's CloudFormation ignores (it applies only encryption and tags)."""
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
        )
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration=lifecycle_to_api(props["LifecycleConfiguration"])
        )
    if "PublicAccessBlockConfiguration" in props:
        block = {k: str(v).lower() == "true" for k, v in props["PublicAccessBlockConfiguration"].items()}
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": props["OwnershipControls"]["Rules"]}
        )
    if "NotificationConfiguration" in props:
        api = notification_to_api(props["NotificationConfiguration"])
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=api)
        deployment.notifications[bucket] = api


TABLE_PROPERTIES_MOTO_SKIPS = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")


def _configure_table(dynamodb: Any, table: str, props: Mapping[str, Any]) -> None:
    """Table properties moto's CloudFormation ignores."""
    ttl = props.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled", "false")).lower() == "true":
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and str(pitr.get("PointInTimeRecoveryEnabled", "false")).lower() == "true":
        dynamodb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


def _plain_outputs(stack: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    outputs: dict[str, str] = {}
    internal: dict[str, str] = {}
    for output in stack.get("Outputs", []):
        target = internal if output["OutputKey"].startswith(OUTPUT_PREFIX) else outputs
        target[output["OutputKey"]] = output["OutputValue"]
    return outputs, internal


def _stack_resources(cloudformation: Any, stack_name: str) -> dict[str, dict[str, str]]:
    resources = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for row in page["StackResourceSummaries"]:
            resources[row["LogicalResourceId"]] = {
                "type": row["ResourceType"],
                "physical_id": row.get("PhysicalResourceId", ""),
                "status": row["ResourceStatus"],
            }
    return resources


def deploy(*args: Any, **kwargs: Any) -> Deployment:
    """Creates the stack on moto and applies what moto's CloudFormation leaves out (see _deploy)."""
    with warnings.catch_warnings():
        # moto warns about each resource type it skips, whenever it reads the stack; the fix-ups apply
        # them. (In pytest, filterwarnings = ["ignore:Tried to parse AWS:UserWarning"] silences later reads.)
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        return _deploy(*args, **kwargs)


def _deploy(
    clients: Any,
    template_path: Path,
    sam: dict[str, Any],
    parameters: Mapping[str, str],
    stack_name: str,
    code_bucket: str,
    region: str,
    account_id: str,
    verified_identities: tuple[str, ...] = (),
    cache_dir: Path | None = None,
) -> Deployment:
    """Creates the stack on moto and applies what moto's CloudFormation leaves out.

    ``sam`` is the parsed template at ``template_path``; ``clients(service)`` returns a boto3 client
    for moto.
    """
    template_dir = template_path.parent
    sam, functions, definitions, uploads = prepare_template(sam, template_dir, code_bucket)

    s3 = clients("s3")
    s3.create_bucket(Bucket=code_bucket)
    s3.put_object(Bucket=code_bucket, Key=PLACEHOLDER_CODE_KEY, Body=placeholder_zip())
    for key, local in uploads.items():
        s3.put_object(Bucket=code_bucket, Key=key, Body=Path(local).read_bytes())

    declared = set(sam.get("Parameters", {}))
    unknown = set(parameters) - declared
    if unknown:
        raise DeploymentError(f"parameters not declared by {template_path.name}: {sorted(unknown)}")
    cfn = inline_configuration_set_refs(translate_cached(sam, parameters, region, cache_dir))

    # What moto's CloudFormation skips, captured with deferred values before the stack exists.
    deferred = DeferredValues()
    fixups: list[tuple[str, str, dict[str, Any]]] = []
    for logical_id, resource in cfn.get("Resources", {}).items():
        rtype, props = resource.get("Type"), resource.get("Properties", {})
        condition = resource.get("Condition")
        spec: dict[str, Any] | None = None
        if rtype == "AWS::S3::Bucket":
            spec = {key: props[key] for key in BUCKET_PROPERTIES_MOTO_SKIPS if key in props}
        elif rtype == "AWS::S3::BucketPolicy":
            spec = {"Bucket": props["Bucket"], "Policy": props["PolicyDocument"]}
        elif rtype == "AWS::DynamoDB::Table":
            spec = {key: props[key] for key in TABLE_PROPERTIES_MOTO_SKIPS if key in props}
        elif rtype == "AWS::SES::EmailIdentity":
            spec = {"Identity": props["EmailIdentity"]}
        elif rtype == "AWS::SES::ConfigurationSet":
            spec = {key: props[key] for key in CONFIGURATION_SET_PROPERTIES if key in props}
        elif rtype == "AWS::StepFunctions::StateMachine":
            spec = {
                "Name": props.get("StateMachineName"),
                "RoleArn": props.get("RoleArn"),
                "Type": props.get("StateMachineType", "STANDARD"),
                "Substitutions": props.get("DefinitionSubstitutions", {}),
                "Tracing": props.get("TracingConfiguration"),
            }
        if spec is not None:
            spec = deferred.defer(spec, condition)
            spec["Present"] = deferred.presence(condition)
            fixups.append((str(rtype), logical_id, spec))
    cfn.setdefault("Outputs", {}).update(deferred.outputs)

    cloudformation = clients("cloudformation")
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise DeploymentError(f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    outputs, internal = _plain_outputs(stack)
    resources = _stack_resources(cloudformation, stack_name)
    deployment = Deployment(
        stack_name=stack_name,
        stack_id=stack["StackId"],
        parameters=dict(parameters),
        outputs=outputs,
        resources=resources,
        functions=functions,
    )

    for rtype, logical_id, spec in fixups:
        resolved = DeferredValues.resolve(spec, internal)
        if resolved["Present"] is not True:
            continue  # the resource's Condition is false
        if rtype == "AWS::S3::Bucket":
            _configure_bucket(s3, resources[logical_id]["physical_id"], resolved, deployment)
        elif rtype == "AWS::S3::BucketPolicy":
            policy = _local_policy(resolved["Policy"])
            if policy["Statement"]:
                s3.put_bucket_policy(Bucket=resolved["Bucket"], Policy=json.dumps(policy))
        elif rtype == "AWS::DynamoDB::Table":
            _configure_table(clients("dynamodb"), resources[logical_id]["physical_id"], resolved)
        elif rtype == "AWS::SES::EmailIdentity":
            _create_identity(clients, resolved["Identity"], deployment)
        elif rtype == "AWS::SES::ConfigurationSet":
            _create_configuration_set(clients, resolved, deployment)
        elif rtype == "AWS::StepFunctions::StateMachine":
            _create_state_machine(clients, logical_id, resolved, definitions, resources, deployment)
    for identity in verified_identities:
        _create_identity(clients, identity, deployment)
    return deployment


# AWS::SES::ConfigurationSet properties with the same name and shape in SESv2 CreateConfigurationSet.
CONFIGURATION_SET_PROPERTIES = ("Name", "DeliveryOptions", "ReputationOptions", "SendingOptions", "SuppressionOptions")


def inline_configuration_set_refs(cfn: dict[str, Any]) -> dict[str, Any]:
    """moto's CloudFormation does not create ``AWS::SES::ConfigurationSet`` (it is created by a fix-up) and
    resolves nothing that refers to it, silently dropping such outputs. CloudFormation's ``Ref`` of a
    configuration set is its ``Name``, so each ``Ref`` (and ``${Set}`` in a ``Fn::Sub``) becomes that name's
    expression before the stack is created. Returns a copy; a set without ``Name`` is refused."""
    names: dict[str, Any] = {}
    for logical_id, resource in cfn.get("Resources", {}).items():
        if resource.get("Type") == "AWS::SES::ConfigurationSet":
            name = resource.get("Properties", {}).get("Name")
            if name is None:
                raise DeploymentError(f"{logical_id}: the local runtime needs the configuration set's Name")
            names[logical_id] = name
    if not names:
        return cfn

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in names:
                return copy.deepcopy(names[node["Ref"]])
            if set(node) == {"Fn::Sub"}:
                body, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
                used = {n: copy.deepcopy(v) for n, v in names.items() if "${" + n + "}" in body and n not in variables}
                if used:
                    return {"Fn::Sub": [body, {**{k: inline(v) for k, v in variables.items()}, **used}]}
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(cfn)


def _create_configuration_set(clients: Any, spec: Mapping[str, Any], deployment: Deployment) -> None:
    options = {key: spec[key] for key in CONFIGURATION_SET_PROPERTIES[1:] if key in spec}
    clients("sesv2").create_configuration_set(ConfigurationSetName=spec["Name"], **options)
    deployment.configuration_sets.append(spec["Name"])


def _create_identity(clients: Any, identity: str, deployment: Deployment) -> None:
    if identity in deployment.email_identities:
        return
    clients("sesv2").create_email_identity(EmailIdentity=identity)
    deployment.email_identities.append(identity)


def _create_state_machine(
    clients: Any,
    logical_id: str,
    spec: Mapping[str, Any],
    definitions: Mapping[str, str],
    resources: Mapping[str, Mapping[str, str]],
    deployment: Deployment,
) -> None:
    """(Re)creates a state machine where Step Functions executes it, with the real definition file.

    moto's CloudFormation puts state machines in the backend that never executes and ignores
    DefinitionSubstitutions; the API call lands in the executing backend (execution is on).
    """
    physical = resources.get(logical_id, {}).get("physical_id", "")
    name = spec["Name"] if isinstance(spec["Name"], str) else physical.rsplit(":", 1)[-1]
    if logical_id not in definitions:
        raise DeploymentError(f"{logical_id}: only DefinitionUri or Definition state machines are supported")
    definition = substitute_definition(definitions[logical_id], spec["Substitutions"] or {})
    unresolved = sorted(set(_SUBSTITUTION.findall(definition)))
    if unresolved:
        raise DeploymentError(f"{logical_id}: definition placeholders without a substitution: {unresolved}")
    kwargs: dict[str, Any] = {"name": name, "definition": definition, "roleArn": spec["RoleArn"], "type": spec["Type"]}
    if isinstance(spec.get("Tracing"), dict):
        kwargs["tracingConfiguration"] = {"enabled": str(spec["Tracing"].get("Enabled", "false")).lower() == "true"}
    try:
        arn = clients("stepfunctions").create_state_machine(**kwargs)["stateMachineArn"]
    except Exception as exc:
        raise DeploymentError(f"{logical_id}: CreateStateMachine rejected the definition: {exc}") from exc
    deployment.state_machines[logical_id] = arn


def describe_functions(clients: Any, deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Lambda's configuration of every function of the stack (environment resolved by CloudFormation)."""
    lambda_client = clients("lambda")
    configs = {}
    for logical_id in deployment.functions:
        if logical_id not in deployment.resources:
            continue  # its Condition is false
        physical = deployment.resources[logical_id]["physical_id"]
        configs[logical_id] = lambda_client.get_function_configuration(FunctionName=physical)
    return configs


def sqs_event_source_mappings(
    clients: Any, deployment: Deployment, function_arns: Mapping[str, str]
) -> list[EventSourceMapping]:
    """The stack's SQS event source mappings, as Lambda holds them (BatchSize, ScalingConfig...)."""
    by_uuid = {
        res["physical_id"]: logical
        for logical, res in deployment.resources.items()
        if res["type"] == "AWS::Lambda::EventSourceMapping"
    }
    arn_to_logical = {arn: logical for logical, arn in function_arns.items()}
    lambda_client, sqs = clients("lambda"), clients("sqs")
    mappings = []
    for page in lambda_client.get_paginator("list_event_source_mappings").paginate():
        for esm in page["EventSourceMappings"]:
            queue_arn = esm["EventSourceArn"]
            function_arn = esm["FunctionArn"]
            if ":sqs:" not in queue_arn or function_arn not in arn_to_logical:
                continue
            _, _, _, _, account, queue_name = queue_arn.split(":", 5)
            queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            scaling = esm.get("ScalingConfig") or {}
            mappings.append(
                EventSourceMapping(
                    logical_id=by_uuid.get(esm["UUID"]),
                    uuid=esm["UUID"],
                    function_logical_id=arn_to_logical[function_arn],
                    function_arn=function_arn,
                    queue_arn=queue_arn,
                    queue_url=queue_url,
                    batch_size=int(esm.get("BatchSize") or 10),
                    maximum_batching_window=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
                    report_batch_item_failures="ReportBatchItemFailures" in (esm.get("FunctionResponseTypes") or []),
                    maximum_concurrency=int(scaling["MaximumConcurrency"])
                    if scaling.get("MaximumConcurrency")
                    else None,
                    enabled=esm.get("State", "Enabled") == "Enabled",
                )
            )
    return mappings


def _local_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """The bucket policy minus statements that deny plain HTTP (``aws:SecureTransport`` false).

    moto enforces bucket policies and is served over http on loopback, so a TLS-only statement would
    deny every local request; on AWS the statement applies as written. Everything else is kept.
    """
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [
        statement
        for statement in statements
        if not (
            statement.get("Effect") == "Deny" and "aws:SecureTransport" in json.dumps(statement.get("Condition", {}))
        )
    ]
    return {**policy, "Statement": kept}
