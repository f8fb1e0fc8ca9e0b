"""Driver of one execution environment: runs inside the child process, standard library only.

Started as ``python -u -P bootstrap.py <request-fd> <response-fd>`` with the function's environment
(``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``PYTHONPATH`` = code dir + layer dirs, ...). ``-P`` keeps this
file's directory off ``sys.path`` so handler code sees only what Lambda would give it.

Protocol (one JSON document per line on two private pipes; stdout/stderr stay the function's log):

- child -> parent, once: ``{"type": "init", "error": null | <lambda error>}``
- parent -> child: ``{"request_id", "deadline_ms", "invoked_function_arn", "trace_id", "event"}``
- child -> parent: ``{"type": "result", "request_id", "payload": <json text> | null,
  "error": null | <lambda error>}``

Errors follow the Lambda Python runtime: ``errorMessage``, ``errorType``, ``requestId``,
``stackTrace``. A handler that exits the process (``sys.exit``/``os._exit``/a signal) simply ends
this loop; the parent notices the closed pipe and reports ``Runtime.ExitError``.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The ``context`` object of the AWS Lambda Python runtime (same attribute names and types)."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"function_version={self.function_version},invoked_function_arn={self.invoked_function_arn}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


_REQUEST_ID = _RequestIdFilter()


def _setup_logging() -> None:
    """Root logger handler with the Lambda Python runtime's text format (level left at WARNING)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(_REQUEST_ID)
    logging.getLogger().addHandler(handler)


def _decimal_default(obj: Any) -> Any:
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _user_frames(tb: Any) -> list[str]:
    here = os.path.abspath(__file__)
    frames = [f for f in traceback.extract_tb(tb) if os.path.abspath(f.filename) != here]
    return traceback.format_list(frames)


def _error(error_type: str, message: str, request_id: str, stack: list[str] | None = None) -> dict:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack or []}


def _log_exception(exc: BaseException, error_type: str | None = None) -> None:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    sys.stderr.write(f"[ERROR] {error_type or type(exc).__name__}: {exc}\n{''.join(lines)}")
    sys.stderr.flush()


def _load_handler(spec: str) -> tuple[Any, dict | None]:
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SyntaxError as exc:
        _log_exception(exc, "Runtime.UserCodeSyntaxError")
        return None, _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", "")
    except ImportError as exc:
        _log_exception(exc, "Runtime.ImportModuleError")
        return None, _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", "")
    except Exception as exc:
        _log_exception(exc)
        return None, _error(type(exc).__name__, str(exc), "", _user_frames(exc.__traceback__))
    handler = getattr(module, function_name, None)
    if handler is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        sys.stderr.write(f"[ERROR] Runtime.HandlerNotFound: {message}\n")
        return None, _error("Runtime.HandlerNotFound", message, "")
    return handler, None


def _send(stream: Any, message: dict) -> None:
    stream.write(json.dumps(message).encode("utf-8") + b"\n")
    stream.flush()


def _invoke(handler: Any, request: dict) -> dict:
    request_id = request["request_id"]
    context = LambdaContext(request_id, request["deadline_ms"], request["invoked_function_arn"])
    os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
    _REQUEST_ID.request_id = request_id
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        _log_exception(exc)
        error = _error(type(exc).__name__, str(exc), request_id, _user_frames(exc.__traceback__))
        return {"type": "result", "request_id": request_id, "payload": None, "error": error}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    try:
        payload = json.dumps(result, default=_decimal_default, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        sys.stderr.write(f"[ERROR] Runtime.MarshalError: {message}\n")
        error = _error("Runtime.MarshalError", message, request_id)
        return {"type": "result", "request_id": request_id, "payload": None, "error": error}
    return {"type": "result", "request_id": request_id, "payload": payload, "error": None}


def main(argv: list[str]) -> int:
    request_fd, response_fd = int(argv[1]), int(argv[2])
    # Processes the handler starts must not keep the control pipes open.
    os.set_inheritable(request_fd, False)
    os.set_inheritable(response_fd, False)
    requests = os.fdopen(request_fd, "rb")
    responses = os.fdopen(response_fd, "wb")
    _setup_logging()

    handler, init_error = _load_handler(os.environ["_HANDLER"])
    _send(responses, {"type": "init", "error": init_error})
    if init_error is not None:
        return 1
    for line in requests:
        _send(responses, _invoke(handler, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
