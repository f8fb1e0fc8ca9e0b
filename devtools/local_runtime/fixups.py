"""The fix-ups: what moto's CloudFormation skips, applied through the API once the stack exists.

:func:`capture` reads, from the translated template, what each fix-up needs (its values deferred, see
``deferred.py``); :func:`apply` makes the calls with the values moto resolved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .cfn_to_api import (
    CONFIGURATION_SET_PROPERTIES,
    SUBSTITUTION,
    lifecycle_to_api,
    local_policy,
    notification_to_api,
    substitute_definition,
)
from .deferred import DeferredValues
from .errors import DeploymentError
from .stack_model import Deployment

BUCKET_PROPERTIES_MOTO_SKIPS = (
    "VersioningConfiguration",
    "LifecycleConfiguration",
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
    "NotificationConfiguration",
)


TABLE_PROPERTIES_MOTO_SKIPS = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")


@dataclass(frozen=True)
class Fixup:
    """One resource's fix-up: its type, logical id and what it needs (values deferred until the stack exists)."""

    resource_type: str
    logical_id: str
    spec: dict[str, Any]


def capture(cfn: Mapping[str, Any], deferred: DeferredValues) -> list[Fixup]:
    """What moto's CloudFormation skips in the translated template, captured with deferred values before the
    stack exists (a resource's ``Condition`` decides whether its fix-up applies: ``spec["Present"]``)."""
    fixups = []
    for logical_id, resource in cfn.get("Resources", {}).items():
        rtype, props = resource.get("Type"), resource.get("Properties", {})
        condition = resource.get("Condition")
        spec = _spec(rtype, props)
        if spec is not None:
            spec = deferred.defer(spec, condition)
            spec["Present"] = deferred.presence(condition)
            fixups.append(Fixup(str(rtype), logical_id, spec))
    return fixups


def _spec(rtype: Any, props: Mapping[str, Any]) -> dict[str, Any] | None:
    if rtype == "AWS::S3::Bucket":
        return {key: props[key] for key in BUCKET_PROPERTIES_MOTO_SKIPS if key in props}
    if rtype == "AWS::S3::BucketPolicy":
        return {"Bucket": props["Bucket"], "Policy": props["PolicyDocument"]}
    if rtype == "AWS::DynamoDB::Table":
        return {key: props[key] for key in TABLE_PROPERTIES_MOTO_SKIPS if key in props}
    if rtype == "AWS::SES::EmailIdentity":
        return {"Identity": props["EmailIdentity"]}
    if rtype == "AWS::SES::ConfigurationSet":
        return {key: props[key] for key in CONFIGURATION_SET_PROPERTIES if key in props}
    if rtype == "AWS::StepFunctions::StateMachine":
        return {
            "Name": props.get("StateMachineName"),
            "RoleArn": props.get("RoleArn"),
            "Type": props.get("StateMachineType", "STANDARD"),
            "Substitutions": props.get("DefinitionSubstitutions", {}),
            "Tracing": props.get("TracingConfiguration"),
        }
    return None


def apply(
    clients: Any,
    fixups: list[Fixup],
    resolved_values: Mapping[str, str],
    definitions: Mapping[str, str],
    deployment: Deployment,
) -> None:
    """Applies the fix-ups whose resource exists, with the values moto resolved (``resolved_values``)."""
    s3 = clients("s3")
    resources = deployment.resources
    for fixup in fixups:
        rtype, logical_id = fixup.resource_type, fixup.logical_id
        resolved = DeferredValues.resolve(fixup.spec, resolved_values)
        if resolved["Present"] is not True:
            continue  # the resource's Condition is false
        if rtype == "AWS::S3::Bucket":
            _configure_bucket(s3, resources[logical_id]["physical_id"], resolved, deployment)
        elif rtype == "AWS::S3::BucketPolicy":
            policy = local_policy(resolved["Policy"])
            if policy["Statement"]:
                s3.put_bucket_policy(Bucket=resolved["Bucket"], Policy=json.dumps(policy))
        elif rtype == "AWS::DynamoDB::Table":
            _configure_table(clients("dynamodb"), resources[logical_id]["physical_id"], resolved)
        elif rtype == "AWS::SES::EmailIdentity":
            create_identity(clients, resolved["Identity"], deployment)
        elif rtype == "AWS::SES::ConfigurationSet":
            _create_configuration_set(clients, resolved, deployment)
        elif rtype == "AWS::StepFunctions::StateMachine":
            _create_state_machine(clients, logical_id, resolved, definitions, resources, deployment)


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


def _create_configuration_set(clients: Any, spec: Mapping[str, Any], deployment: Deployment) -> None:
    options = {key: spec[key] for key in CONFIGURATION_SET_PROPERTIES[1:] if key in spec}
    clients("sesv2").create_configuration_set(ConfigurationSetName=spec["Name"], **options)
    deployment.configuration_sets.append(spec["Name"])


def create_identity(clients: Any, identity: str, deployment: Deployment) -> None:
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
    unresolved = sorted(set(SUBSTITUTION.findall(definition)))
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
