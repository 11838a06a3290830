"""Lambda's quotas and the runtimes this nubis can run (facts file §7)."""
from __future__ import annotations

MEMORY_MIN, MEMORY_MAX = 128, 10240
TIMEOUT_MIN, TIMEOUT_MAX = 1, 900
ENV_VARS_MAX_BYTES = 4096
ZIPPED_MAX = 52_428_800
UNZIPPED_MAX = 262_144_000
CREATE_REQUEST_MAX = 70_167_211
SYNC_PAYLOAD_MAX = 6_291_456
RESPONSE_MAX = 6_291_556
ASYNC_PAYLOAD_MAX = 1_048_576
INVOKE_ASYNC_PAYLOAD_MAX = 262_144  # the deprecated InvokeAsync API
ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100
TOTAL_CODE_SIZE = 80_530_636_800
EPHEMERAL_MIN, EPHEMERAL_MAX = 512, 10240

PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
NODE_RUNTIMES = ("nodejs22.x", "nodejs20.x", "nodejs18.x")  # served by the host's node (docs/runtimes.md)
PROVIDED_RUNTIMES = ("provided.al2023", "provided.al2", "provided")  # the package's own bootstrap
SUPPORTED_RUNTIMES = PYTHON_RUNTIMES + NODE_RUNTIMES + PROVIDED_RUNTIMES
DEPRECATED_RUNTIMES = ("python2.7", "python3.6", "python3.7", "python3.8", "nodejs", "nodejs4.3", "nodejs6.10",
                       "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "dotnetcore1.0",
                       "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "ruby2.5", "ruby2.7",
                       "java8", "go1.x")

# Environment keys the platform sets; a function may not override them (facts §3.4).
RESERVED_ENV_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
