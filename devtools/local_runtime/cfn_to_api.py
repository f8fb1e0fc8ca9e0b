"""CloudFormation properties in the form of the API calls the fix-ups make (pure conversions, no calls)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import DeploymentError

# AWS::SES::ConfigurationSet properties with the same name and shape in SESv2 CreateConfigurationSet.
CONFIGURATION_SET_PROPERTIES = ("Name", "DeliveryOptions", "ReputationOptions", "SendingOptions", "SuppressionOptions")

SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")


def substitute_definition(definition: str, substitutions: Mapping[str, Any]) -> str:
    """``DefinitionSubstitutions`` as Step Functions applies them: ``${Key}`` for declared keys only."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in substitutions:
            value = substitutions[key]
            return value if isinstance(value, str) else json.dumps(value)
        return match.group(0)

    return SUBSTITUTION.sub(replace, definition)


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


def local_policy(policy: dict[str, Any]) -> dict[str, Any]:
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
