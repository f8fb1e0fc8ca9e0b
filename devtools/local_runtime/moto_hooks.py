"""Every place the runtime touches moto's internals (moto==5.2.5), checked before use.

- ``LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)``: moto runs every Lambda
  invocation through it (Invoke API, Step Functions tasks, S3 notifications, SQS mappings). It
  normally starts a Docker container; here it runs the function in our execution environments.
- ``LambdaFunction.invoke(self, body, request_headers, response_headers)``: wrapped so
  ``InvocationType=Event`` returns 202 at once and runs in the background with Lambda's retries,
  ``DryRun`` runs nothing, and errors are flagged ``X-Amz-Function-Error: Unhandled`` like AWS.
- ``LambdaFunction.docker_client``: a property that connects to Docker; ``/moto-api/data.json``
  answers 500 while a function exists unless it is neutralised.
- ``moto.s3.notifications._invoke_awslambda`` / ``_get_s3_event``: S3 -> Lambda becomes
  asynchronous (PutObject returns at once, the handler runs in the background with retries) and the
  record carries ``versionId``, ``sequencer``, ``userIdentity``... like AWS's.
- ``SESV2Response.send_email``: moto keeps only the HTML part of a two-part email; the request is
  recorded so :meth:`LocalRuntime.sent_emails` can return both the text and the HTML body (and the
  configuration set). moto ignores ``ConfigurationSetName``; like SES, a send naming a configuration set
  that does not exist is refused (``NotFoundException``), checked in ``SESBackend.config_sets``.
- ``Queue.lambda_event_source_mappings``: moto invokes SQS mappings inside SendMessage (one message per
  call, no partial failures); the runtime detaches them and polls the queues itself.
- ``LambdaBackend.get_event_source_mapping(uuid).enabled``: the SQS pollers read their mapping's state before and
  after each receive (as ``GetEventSourceMapping`` answers it) in this process, not through the API: two HTTP
  round trips fewer on the way from a message to its invocation.
- ``DynamoDBBackend.put_item/update_item/delete_item/transact_write_items``: moto checks a condition
  and applies the write in separate steps, so concurrent requests (the server is threaded) can both
  pass a condition or lose an ``ADD``. DynamoDB applies each of them atomically; one lock around the
  writes restores that (:func:`make_dynamodb_writes_atomic`, also usable without a runtime).
- ``moto.backends.list_of_moto_modules``: the server's dispatcher calls it for every request, holding the lock
  every request takes (``DomainDispatcherApplication.get_application``); it lists moto's package folder and
  stats each entry (~175 ``isdir`` calls for an SQS, S3 or Lambda request). Each stat releases the GIL, so with
  the sandbox, the pollers and other requests busy in the process a request can hold that lock for many
  thread switches and every other request queues behind it. The list never changes while a process runs:
  it is computed once when the hooks are installed (same answer, no I/O per request).

- ``AmazonStateLanguageParser.parse(definition) -> (program, tree)``: moto's Step Functions interpreter lexes and
  parses the state machine's definition (ANTLR, pure Python: 160 ms of CPU for this project's, 15 ms from the kept
  tree) for every execution it starts. The parse tree of a definition is kept (:func:`_cache_asl_parse_trees`); each execution still gets
  its own program, built from the tree by moto's ``Preprocessor`` as before, so no state is shared between
  executions. Syntax errors are not cached: they raise every time, as before.
- ``DepthFirstTraverser.nodes_to_be_processed``: moto validates every ``UpdateItem`` expression with ten
  traversals of its syntax tree, and for each node each traversal rebuilt its processing map (a dict of bound
  methods) only to read its keys, which are classes fixed per traverser class. They are read once per class
  (:func:`_cache_dynamodb_traverser_node_types`): about a fifth less CPU per ``UpdateItem`` (3.9 -> 3.2 ms for the
  identity ledger's seven-SET note), same answers.

If a moto upgrade changes any of these, :func:`check` raises :class:`MotoIncompatibleError` naming
what moved (``tests/integration/test_local_runtime_moto_hooks.py`` keeps that visible in CI).
"""

from __future__ import annotations

import base64
import inspect
import itertools
import json
import logging
import secrets
import threading
import time
from typing import Any, Protocol
from urllib.parse import quote_plus

from .errors import MotoIncompatibleError

LOG = logging.getLogger(__name__)


class RuntimeHooks(Protocol):
    """What an active runtime provides to the hooks."""

    def moto_invoke(self, function: Any, event: Any) -> tuple[str, bool, str]: ...

    def moto_invoke_async(self, function_arn: str, event: Any, source: str) -> bool: ...

    def record_email(self, message_id: str, request: dict[str, Any]) -> None: ...


_lock = threading.Lock()
_originals: dict[str, Any] = {}
_active: RuntimeHooks | None = None
_sequencer = itertools.count()


def _parameters(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def check() -> None:
    """Raises MotoIncompatibleError when an internal the runtime relies on has changed."""
    problems = []
    try:
        import moto.s3.notifications as s3_notifications
        from moto.awslambda.models import LambdaFunction
        from moto.sesv2.responses import SESV2Response
        from moto.sqs.models import Queue
    except ImportError as exc:  # pragma: no cover - only on a broken install
        raise MotoIncompatibleError(f"moto modules moved: {exc}") from exc

    expectations = [
        ("LambdaFunction._invoke_lambda", getattr(LambdaFunction, "_invoke_lambda", None), ["self", "event"]),
        (
            "LambdaFunction.invoke",
            getattr(LambdaFunction, "invoke", None),
            ["self", "body", "request_headers", "response_headers"],
        ),
        (
            "moto.s3.notifications._invoke_awslambda",
            getattr(s3_notifications, "_invoke_awslambda", None),
            ["account_id", "event_body", "fn_arn", "region_name"],
        ),
        (
            "moto.s3.notifications._get_s3_event",
            getattr(s3_notifications, "_get_s3_event", None),
            ["event_name", "bucket", "key", "notification_id"],
        ),
        ("SESV2Response.send_email", getattr(SESV2Response, "send_email", None), ["self"]),
    ]
    for name, func, params in expectations:
        original = _originals.get(name, func)
        if original is None:
            problems.append(f"{name} no longer exists")
        elif _parameters(original) != params:
            problems.append(f"{name}{inspect.signature(original)} != ({', '.join(params)})")
    send_event = getattr(s3_notifications, "send_event", None)
    names = set(getattr(getattr(send_event, "__code__", None), "co_names", ()))
    if not {"_invoke_awslambda", "_get_s3_event"} <= names:
        problems.append("moto.s3.notifications.send_event no longer calls _invoke_awslambda/_get_s3_event")
    invoke = _originals.get("LambdaFunction.invoke", getattr(LambdaFunction, "invoke", None))
    if invoke is not None and "_invoke_lambda" not in invoke.__code__.co_names:
        problems.append("LambdaFunction.invoke no longer calls _invoke_lambda")
    if not isinstance(inspect.getattr_static(LambdaFunction, "docker_client", None), property):
        problems.append("LambdaFunction.docker_client is no longer a property")
    if "lambda_event_source_mappings" not in inspect.getsource(Queue.__init__):
        problems.append("sqs Queue.lambda_event_source_mappings no longer exists")
    from moto.awslambda.models import EventSourceMapping, LambdaBackend

    if not callable(getattr(LambdaBackend, "get_event_source_mapping", None)):
        problems.append("LambdaBackend.get_event_source_mapping no longer exists")
    if "self.enabled" not in inspect.getsource(EventSourceMapping.__init__):
        problems.append("awslambda EventSourceMapping.enabled no longer exists")
    from moto.ses.models import SESBackend

    if "self.config_sets" not in inspect.getsource(SESBackend.__init__):
        problems.append("SESBackend.config_sets no longer exists")
    from moto.dynamodb.models import DynamoDBBackend

    for name in DYNAMODB_WRITES:
        if not callable(getattr(DynamoDBBackend, name, None)):
            problems.append(f"DynamoDBBackend.{name} no longer exists")
    problems += _module_list_problems()
    problems += _cache_problems()
    if problems:
        raise MotoIncompatibleError("moto internals changed: " + "; ".join(problems))


def _module_list_problems() -> list[str]:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    problems = []
    if not callable(
        _originals.get("moto.backends.list_of_moto_modules", getattr(backends, "list_of_moto_modules", None))
    ):
        problems.append("moto.backends.list_of_moto_modules no longer exists")
    if "list_of_moto_modules" not in DomainDispatcherApplication.get_backend_for_host.__code__.co_names:
        problems.append("DomainDispatcherApplication.get_backend_for_host no longer calls list_of_moto_modules")
    return problems


# Resource types moto's CloudFormation skips and the runtime applies itself (fixups.py): moto's
# warnings about them are noise (provision.UnemulatedResources drops them).
HANDLED_RESOURCE_TYPES = ("AWS::SES::EmailIdentity", "AWS::SES::ConfigurationSet", "AWS::S3::BucketPolicy")


DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
# Reads take the same lock, or they can see an item half-way through a write (moto applies an update
# attribute by attribute: a new item exists before its ADDed counter does).
DYNAMODB_READS = ("get_item", "query", "scan", "batch_get_item", "transact_get_items")
_dynamodb_write_lock = threading.RLock()


def make_dynamodb_writes_atomic() -> None:
    """Serialise moto's DynamoDB writes in this process (idempotent), so a conditional write or an
    ``ADD`` under concurrent requests behaves like DynamoDB's: atomic per request."""
    from moto.dynamodb.models import DynamoDBBackend

    with _dynamodb_write_lock:
        for name in DYNAMODB_WRITES + DYNAMODB_READS:
            if not callable(getattr(DynamoDBBackend, name, None)):
                continue
            key = f"DynamoDBBackend.{name}"
            if key in _originals:
                continue
            original = getattr(DynamoDBBackend, name)

            def atomic(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                with _dynamodb_write_lock:
                    return _original(*args, **kwargs)

            _originals[key] = original
            setattr(DynamoDBBackend, name, atomic)


def _cache_moto_module_list() -> None:
    """Answer ``moto.backends.list_of_moto_modules`` from a list read once (``install`` calls it once): the
    server's dispatcher calls it for every request while holding its lock, and it stats every folder of moto's
    package each time."""
    from moto import backends

    original = backends.list_of_moto_modules
    modules = tuple(original())
    _originals["moto.backends.list_of_moto_modules"] = original
    backends.list_of_moto_modules = lambda: modules


_ASL_TREES_MAX = 32  # definitions whose parse tree is kept (a stack has one state machine; tests make a few)


def _cache_asl_parse_trees() -> None:
    """Parse each state machine definition once per process (see the module docstring)."""
    from moto.stepfunctions.parser.asl.parse import asl_parser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original = asl_parser.AmazonStateLanguageParser.parse
    trees: dict[str, Any] = {}
    trees_lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with trees_lock:
            tree = trees.get(definition)
        if tree is None:
            program, tree = original(definition)
            with trees_lock:
                if len(trees) >= _ASL_TREES_MAX:
                    trees.clear()
                trees[definition] = tree
            return program, tree
        return Preprocessor().visit(tree), tree

    _originals["AmazonStateLanguageParser.parse"] = original
    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


def _cache_dynamodb_traverser_node_types() -> None:
    """``DepthFirstTraverser.nodes_to_be_processed`` computed once per traverser class (see the docstring)."""
    from moto.dynamodb.parsing import ast_nodes

    traverser: Any = ast_nodes.DepthFirstTraverser  # type: ignore[attr-defined]  # not in the module's __all__
    node_types: dict[type, tuple[type, ...]] = {}

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        found = node_types.get(type(self))
        if found is None:
            found = node_types[type(self)] = tuple(self._processing_map().keys())
        return found

    _originals["DepthFirstTraverser.nodes_to_be_processed"] = traverser.nodes_to_be_processed
    traverser.nodes_to_be_processed = nodes_to_be_processed


def _cache_problems() -> list[str]:
    from moto.dynamodb.parsing import ast_nodes, validators
    from moto.stepfunctions.parser.asl.parse import asl_parser, preprocessor

    problems = []
    parse = inspect.getattr_static(asl_parser.AmazonStateLanguageParser, "parse", None)
    if _originals.get("AmazonStateLanguageParser.parse") is None:
        if not isinstance(parse, staticmethod) or _parameters(parse.__func__) != ["definition"]:
            problems.append("AmazonStateLanguageParser.parse(definition) is no longer a static method")
        elif "Preprocessor" not in parse.__func__.__code__.co_names:
            problems.append("AmazonStateLanguageParser.parse no longer builds its program with Preprocessor")
    if not callable(getattr(preprocessor.Preprocessor, "visit", None)):
        problems.append("asl Preprocessor.visit no longer exists")
    traverser: Any = ast_nodes.DepthFirstTraverser  # type: ignore[attr-defined]  # not in the module's __all__
    if "nodes_to_be_processed" not in traverser.traverse_node_recursively.__code__.co_names:
        problems.append("DepthFirstTraverser.traverse_node_recursively no longer calls nodes_to_be_processed")
    for name, cls in inspect.getmembers(validators, inspect.isclass):
        if cls is not traverser and issubclass(cls, traverser) and "nodes_to_be_processed" in vars(cls):
            problems.append(f"dynamodb {name} overrides nodes_to_be_processed (its node types may vary)")
    return problems


def install() -> None:
    """Patches moto once per process (idempotent). Patched code falls back to moto's when no runtime is active."""
    with _lock:
        if "LambdaFunction._invoke_lambda" in _originals:
            return
        check()
        make_dynamodb_writes_atomic()
        _cache_moto_module_list()
        _cache_asl_parse_trees()
        _cache_dynamodb_traverser_node_types()
        import moto.s3.notifications as s3_notifications
        from moto.awslambda.models import LambdaFunction
        from moto.sesv2.responses import SESV2Response

        _originals["LambdaFunction._invoke_lambda"] = LambdaFunction._invoke_lambda
        _originals["LambdaFunction.invoke"] = LambdaFunction.invoke
        _originals["moto.s3.notifications._invoke_awslambda"] = s3_notifications._invoke_awslambda
        _originals["moto.s3.notifications._get_s3_event"] = s3_notifications._get_s3_event
        _originals["SESV2Response.send_email"] = SESV2Response.send_email

        LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
        LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
        LambdaFunction.docker_client = property(lambda self: None)  # type: ignore[assignment,method-assign]
        s3_notifications._invoke_awslambda = _s3_invoke_awslambda
        s3_notifications._get_s3_event = s3_event
        SESV2Response.send_email = _sesv2_send_email  # type: ignore[method-assign]


def activate(runtime: RuntimeHooks) -> None:
    global _active
    with _lock:
        if _active is not None and _active is not runtime:
            raise RuntimeError("another LocalRuntime is active in this process (moto's state is per process)")
        _active = runtime


def deactivate(runtime: RuntimeHooks) -> None:
    global _active
    with _lock:
        if _active is runtime:
            _active = None


def active() -> RuntimeHooks | None:
    return _active


# ---------------------------------------------------------------------------------- Lambda
def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and isinstance(headers, dict):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
    runtime = _active
    if runtime is None:
        return _originals["LambdaFunction._invoke_lambda"](self, event)
    if event is None or event == "{}":
        event = {}  # moto passes the string "{}" for an empty body
    return runtime.moto_invoke(self, event)


def _invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> Any:
    runtime = _active
    if runtime is None:
        return _originals["LambdaFunction.invoke"](self, body, request_headers, response_headers)
    invocation_type = _header(request_headers, "X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type == "DryRun":
        return ""
    if invocation_type == "Event":
        event = json.loads(body) if body else {}
        runtime.moto_invoke_async(self.function_arn, event, "invoke-async")
        return ""
    result = _originals["LambdaFunction.invoke"](self, body, request_headers, response_headers)
    if "x-amz-function-error" in response_headers:
        response_headers["x-amz-function-error"] = "Unhandled"
    return result


# -------------------------------------------------------------------------------------- S3
def s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
    """An S3 event notification record shaped like AWS's (key URL-encoded with quote_plus)."""
    obj: dict[str, Any] = {"key": quote_plus(key.name)}
    if event_name.startswith("s3:ObjectCreated"):
        obj["size"] = key.size
        obj["eTag"] = key.etag.replace('"', "")
    version_id = getattr(key, "version_id", None)
    if version_id and version_id != "null":
        obj["versionId"] = version_id
    obj["sequencer"] = f"{time.time_ns() // 1000 * 4096 + next(_sequencer) % 4096:018X}"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": bucket.region_name,
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                + f".{int(time.time() * 1000) % 1000:03d}Z",
                "eventName": event_name[3:] if event_name.startswith("s3:") else event_name,
                "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": secrets.token_hex(8).upper(),
                    "x-amz-id-2": base64.b64encode(secrets.token_bytes(48)).decode("ascii"),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": notification_id,
                    "bucket": {
                        "name": bucket.name,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": bucket.arn,
                    },
                    "object": obj,
                },
            }
        ]
    }


def _s3_invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    runtime = _active
    if runtime is None:
        _originals["moto.s3.notifications._invoke_awslambda"](account_id, event_body, fn_arn, region_name)
        return
    if not runtime.moto_invoke_async(fn_arn, event_body, "s3"):
        LOG.warning("S3 notification for %s dropped: function not run by the local runtime", fn_arn)


# ------------------------------------------------------------------------------------- SES
def _sesv2_send_email(self: Any) -> Any:
    from moto.ses.exceptions import NotFoundException
    from moto.ses.models import ses_backends

    try:
        configuration_set = json.loads(self.body).get("ConfigurationSetName")
    except (ValueError, AttributeError):
        configuration_set = None
    if configuration_set and configuration_set not in ses_backends[self.current_account][self.region].config_sets:
        raise NotFoundException(f"Configuration set <{configuration_set}> does not exist.")
    result = _originals["SESV2Response.send_email"](self)
    runtime = _active
    if runtime is not None:
        try:
            runtime.record_email(json.loads(result)["MessageId"], json.loads(self.body))
        except (ValueError, KeyError, TypeError):  # pragma: no cover - defensive, never fail a send
            LOG.exception("could not record a sent email")
    return result


def ses_sent_messages(account_id: str, region: str) -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[account_id][region].sent_messages)


# ------------------------------------------------------------------------------------- SQS
def event_source_mapping_enabled(account_id: str, region: str, uuid: str) -> bool:
    """Whether Lambda holds the event source mapping enabled (what ``GetEventSourceMapping``'s ``State`` says),
    read in this process; a mapping that no longer exists is not enabled."""
    from moto.awslambda.models import lambda_backends

    mapping = lambda_backends[account_id][region].get_event_source_mapping(uuid)
    return mapping is not None and bool(mapping.enabled)


def detach_sqs_mappings(account_id: str, region: str, mappings: list[tuple[str, str]]) -> None:
    """Stops moto from invoking ``(queue_name, function_arn)`` mappings inside SendMessage."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[account_id][region]
    for queue_name, function_arn in mappings:
        backend.get_queue(queue_name).lambda_event_source_mappings.pop(function_arn, None)
