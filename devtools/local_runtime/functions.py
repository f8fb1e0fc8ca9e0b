"""Each function of the deployed stack as the runtime runs it: its configuration and its process environment.

The environment is built from scratch, nothing inherited: what Lambda sets, the function's variables as
Lambda holds them after CreateStack, the moto endpoint and fake credentials, then the caller's overrides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import stack
from .environment import FunctionConfig
from .moto_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from .options import RuntimeOptions

# Variables AWS reserves: the function's own configuration cannot change them.
_RESERVED = {
    "_HANDLER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
}


def env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parameter_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # CommaDelimitedList
        return ",".join(str(item) for item in value)
    return env_value(value)


def configure_functions(
    clients: Callable[[str], Any],
    deployment: stack.Deployment,
    log_dir: Path,
    options: RuntimeOptions,
    *,
    endpoint_url: str,
    region: str,
) -> dict[str, FunctionConfig]:
    """Every function of the stack, each with an empty log file in ``log_dir`` (logical id -> config)."""
    functions = {}
    for logical_id, config in stack.describe_functions(clients, deployment).items():
        source = deployment.functions[logical_id]
        log_path = log_dir / f"{logical_id}.log"
        log_path.write_text("", encoding="utf-8")
        function = FunctionConfig(
            logical_id=logical_id,
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            handler=config["Handler"],
            runtime=config.get("Runtime", "python3.13"),
            timeout=int(options.timeout_override.get(logical_id, config.get("Timeout", 3))),
            memory_size=int(config.get("MemorySize", 128)),
            code_dir=source.code_dir,
            layer_dirs=source.layer_dirs,
            environment={},
            log_path=log_path,
        )
        variables = (config.get("Environment") or {}).get("Variables") or {}
        environment = process_environment(
            function, variables, options.function_env_overrides, endpoint_url=endpoint_url, region=region
        )
        functions[logical_id] = replace(function, environment=environment)
    return functions


def process_environment(
    function: FunctionConfig,
    variables: Mapping[str, Any],
    overrides: Mapping[str, Mapping[str, str]],
    *,
    endpoint_url: str,
    region: str,
) -> dict[str, str]:
    """The process environment of one function: what Lambda sets, the function's variables as
    Lambda holds them, the moto endpoint, then the caller's overrides. Nothing is inherited."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join(str(p) for p in (function.code_dir, *function.layer_dirs)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    }
    env.update({k: env_value(v) for k, v in variables.items() if k not in _RESERVED})
    env.update(
        {
            "_HANDLER": function.handler,
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_SESSION_TOKEN": "local-session-token",
            "AWS_ENDPOINT_URL": endpoint_url,
            # No developer profile or credentials file leaks into the function.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    for key in ("*", function.logical_id, function.name):
        env.update({k: env_value(v) for k, v in overrides.get(key, {}).items()})
    return env
