"""Deploys a SAM template to moto: offline SAM translation, ``CreateStack``, then the fix-ups moto skips.

The stack's resources come from the template only (no second, hand-kept list). The parts:

- ``sam_template.py``: the template parsed, local ``CodeUri``/``ContentUri``/``DefinitionUri`` rewritten to
  a placeholder S3 object, translated offline (memoised);
- ``deferred.py``: the values the fix-ups need (ARNs in ``DefinitionSubstitutions``, the function named
  by a bucket notification, a conditional email identity...), resolved by moto's CloudFormation itself
  as extra ``Outputs`` read back after the stack is created;
- ``fixups.py`` (with ``cfn_to_api.py``): what moto's CloudFormation skips, applied through the API;
- ``stack_model.py``: the :class:`Deployment` this returns.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import fixups
from .cfn_to_api import inline_configuration_set_refs
from .deferred import OUTPUT_PREFIX, DeferredValues
from .errors import DeploymentError
from .sam_template import (
    PLACEHOLDER_CODE_KEY,
    load_template,
    placeholder_zip,
    prepare_template,
    translate,
    translate_cached,
)
from .stack_model import Deployment, EventSourceMapping, FunctionSource

__all__ = [
    "Deployment",
    "EventSourceMapping",
    "FunctionSource",
    "deploy",
    "describe_functions",
    "load_template",
    "prepare_template",
    "sqs_event_source_mappings",
    "translate",
    "translate_cached",
]


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
    sam, functions, definitions, uploads = prepare_template(sam, template_path.parent, code_bucket)
    _upload_code(clients("s3"), code_bucket, uploads)
    unknown = set(parameters) - set(sam.get("Parameters", {}))
    if unknown:
        raise DeploymentError(f"parameters not declared by {template_path.name}: {sorted(unknown)}")
    cfn = inline_configuration_set_refs(translate_cached(sam, parameters, region, cache_dir))

    # What moto's CloudFormation skips, captured with deferred values before the stack exists.
    deferred = DeferredValues()
    captured = fixups.capture(cfn, deferred)
    cfn.setdefault("Outputs", {}).update(deferred.outputs)

    deployment, resolved_values = _create_stack(clients("cloudformation"), cfn, parameters, stack_name, functions)
    fixups.apply(clients, captured, resolved_values, definitions, deployment)
    for identity in verified_identities:
        fixups.create_identity(clients, identity, deployment)
    return deployment


def _upload_code(s3: Any, code_bucket: str, uploads: Mapping[str, str]) -> None:
    """The placeholder code object and the state machine definitions, where the template now points."""
    s3.create_bucket(Bucket=code_bucket)
    s3.put_object(Bucket=code_bucket, Key=PLACEHOLDER_CODE_KEY, Body=placeholder_zip())
    for key, local in uploads.items():
        s3.put_object(Bucket=code_bucket, Key=key, Body=Path(local).read_bytes())


def _create_stack(
    cloudformation: Any,
    cfn: dict[str, Any],
    parameters: Mapping[str, str],
    stack_name: str,
    functions: dict[str, FunctionSource],
) -> tuple[Deployment, dict[str, str]]:
    """CreateStack; the deployment and the deferred values moto resolved (the internal outputs)."""
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
    deployment = Deployment(
        stack_name=stack_name,
        stack_id=stack["StackId"],
        parameters=dict(parameters),
        outputs=outputs,
        resources=_stack_resources(cloudformation, stack_name),
        functions=functions,
    )
    return deployment, internal


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
