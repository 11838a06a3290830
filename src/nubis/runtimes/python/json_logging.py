"""JSON log records for the Python runtime (``AWS_LAMBDA_LOG_FORMAT=JSON``), shaped as AWS's runtime
(awslambdaric) writes them: one JSON object per line with ``timestamp`` (UTC, seconds, ``Z``),
``level``, ``message``, ``logger``, ``requestId``; with an exception ``errorType``, ``errorMessage``,
``stackTrace`` and ``location``; a ``tenantId`` when there is one; then the record's extra fields.
``print()`` is not touched: it stays plain text.

Loaded by path by bootstrap.py, and only for functions that ask for JSON (stdlib only, like it).
"""

import json
import logging
import time
import traceback

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# LogRecord attributes that are not "extra" fields (plus what the runtime's filter adds).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "aws_request_id", "tenant_id", "_frame_type"}

_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def level_from_env(value):
    """AWS_LAMBDA_LOG_LEVEL as the logging module knows it: TRACE is DEBUG; "" when unset."""
    value = (value or "").upper()
    return "DEBUG" if value == "TRACE" else value


class JsonFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(datefmt=DATETIME_FORMAT)

    def format(self, record):
        # Levels round down to the standard ones (a custom level 25 is INFO), as on Lambda.
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc = record.exc_info
        msg = record.msg
        result = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": msg if isinstance(msg, dict) and not record.args else record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": "%s:%s:%s" % (record.pathname, record.funcName, record.lineno) if exc else None,
        }
        if getattr(record, "tenant_id", None) is not None:
            result["tenantId"] = record.tenant_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in result:
                result[key] = value
        return _encode({k: v for k, v in result.items() if v is not None}) + "\n"


def error_line(error_result):
    """An unhandled error as one JSON log line: timestamp and level, then the error document."""
    record = {"timestamp": time.strftime(DATETIME_FORMAT, time.gmtime()), "level": "ERROR"}
    record.update(error_result)
    return _encode(record) + "\n"
