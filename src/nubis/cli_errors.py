"""What the nubis CLI tells a user when something fails: one line on stderr and an exit code, never a
traceback (the command line's errors, the server's AWS errors, an unreachable server)."""
from __future__ import annotations


class CliError(Exception):
    """A message for the user and an exit code (2 = usage / unreachable, 1 = failed)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def _unreachable(exc: BaseException) -> bool:
    import socket
    import urllib.error

    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return True
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return isinstance(exc.reason, OSError)
    try:
        from botocore.exceptions import EndpointConnectionError
    except ImportError:  # pragma: no cover - botocore is a dependency
        return False
    return isinstance(exc, EndpointConnectionError)


def one_line(text: str) -> str:
    """Fold a multi-line message (botocore's ParamValidationError report, a server message with
    newlines) into one line: parts joined by "; ", or by a space after a line ending in ":"."""
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    line = ""
    for part in parts:
        line = part if not line else line + (" " if line.endswith(":") else "; ") + part
    return line


def format_error(exc: BaseException, endpoint: str) -> tuple[str, int] | None:
    """One line for stderr and an exit code for an error a user can act on; None if unexpected."""
    result = _format_error(exc, endpoint)
    return None if result is None else (one_line(result[0]), result[1])


def _format_error(exc: BaseException, endpoint: str) -> tuple[str, int] | None:
    if isinstance(exc, CliError):
        return f"nubis: {exc.message}", exc.code
    if _unreachable(exc):
        return (f"nubis: cannot reach the server at {endpoint} — start it with `nubis server` "
                "or pass --endpoint"), 2
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or "Error"
        message = err.get("Message") or str(exc)
        line = f"nubis: {code}: {message}"
        if code == "ResourceNotFoundException":
            line += " (see `nubis ls`)"
        return line, 1
    if isinstance(exc, bx.WaiterError):
        last = exc.last_response or {}
        cfg = last.get("Configuration", {}) if isinstance(last, dict) else {}
        reason = cfg.get("LastUpdateStatusReason") or cfg.get("StateReason") or exc.kwargs.get("reason", "")
        if "Error" in last:
            reason = f"{last['Error'].get('Code')}: {last['Error'].get('Message')}"
        return f"nubis: the function did not become ready: {reason}", 1
    if isinstance(exc, bx.ParamValidationError):
        return f"nubis: {exc}", 2
    if isinstance(exc, bx.ReadTimeoutError):
        return f"nubis: the server at {endpoint} did not answer in time", 1
    if isinstance(exc, bx.ConnectionClosedError):
        return f"nubis: the server at {endpoint} closed the connection", 1
    if isinstance(exc, bx.BotoCoreError):
        return f"nubis: {exc}", 1
    return None
