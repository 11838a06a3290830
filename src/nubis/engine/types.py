"""Values exchanged between the engine and its callers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FunctionSpec:
    key: str  # unique per function version + code/config revision; pools are keyed by it
    function_name: str
    function_arn: str  # unqualified ARN
    version: str  # "$LATEST" or "1", "2", ...
    runtime: str  # "python3.9" .. "python3.14"
    handler: str  # "app.handler" or "pkg/mod.func"
    code_dir: str  # extracted code, already byte-compiled
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]  # the user's variables
    region: str
    account: str
    log_group: str  # "/aws/lambda/<name>"
    extra_env: dict[str, str]  # platform-provided: AWS_ENDPOINT_URL, credentials, ...
    reserved_concurrency: int | None = None
    scope: str = ""  # concurrency scope, e.g. f"{account}/{region}"
    architecture: str = "x86_64"  # billed per architecture
    ephemeral_mb: int = 512  # EphemeralStorage.Size: the private /tmp
    opt_dir: str | None = None  # the function's layers merged into one directory (mounted at /opt), or None
    snap_start: bool = False  # SnapStart: new environments are restored from a snapshot taken after INIT
    log_format: str = "Text"  # LoggingConfig.LogFormat: "Text" or "JSON"
    app_log_level: str | None = None  # LoggingConfig.ApplicationLogLevel (JSON only): TRACE .. FATAL
    system_log_level: str | None = None  # LoggingConfig.SystemLogLevel (JSON only): DEBUG | INFO | WARN

    # dicts are not hashable; identity is the key.
    def __hash__(self) -> int:
        return hash(self.key)


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    invoked_arn: str  # as invoked (may be qualified)
    client_context: str | None = None  # JSON text (already base64-decoded) or None
    trace_id: str | None = None


@dataclass
class InvocationResult:
    request_id: str
    payload: bytes  # the function's response bytes, or the error JSON
    function_error: str | None  # "Unhandled" when the function failed, else None
    error_type: str | None  # "Exception", "Sandbox.Timedout", "Runtime.ExitError", ...
    log_tail: str  # this invocation's log text START..REPORT
    log_stream: str
    executed_version: str
    start_time: float  # epoch seconds
    duration_ms: float
    billed_ms: int
    init_ms: float | None  # set on a cold start (not on a SnapStart restore)
    max_memory_mb: int
    memory_mb: int
    cold: bool
    restore_ms: float | None = None  # SnapStart: the Restore Duration of a new environment
    billed_restore_ms: int | None = None


class Throttled(Exception):
    """No concurrency left for this invocation.

    ``reason`` is ``"reserved"`` when the function's reserved concurrency is
    full (including a reservation of 0) and ``"account"`` when the scope's
    unreserved pool is full.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EngineClosed(RuntimeError):
    """The engine is shutting down and accepts no more invocations."""


@dataclass(slots=True)
class Outcome:
    """What one phase (INIT or an invocation) of an environment ended with."""

    kind: str  # "result" | "error" | "init_error" | "timeout" | "exit"
    body: bytes = b""
    events: list[tuple[int, str]] = field(default_factory=list)
    duration_ms: float = 0.0
    exit_status: int | None = None
    max_rss_kb: int | None = None
    oom: bool = False  # the runtime was OOM-killed (memory cgroup): Runtime.OutOfMemory
