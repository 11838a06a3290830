"""nubis Python runtime: runs inside an execution environment (stdlib only).

Behaves like AWS's Python runtime interface client (awslambdaric 4.2.2) as far
as user code can see: the handler is imported during INIT, the LambdaContext
has the same attributes, errors have the same types, messages and shape, and
the root logger writes RIC's text format to stdout.

Instead of the HTTP Runtime API this speaks a small binary protocol with the
engine over a private socket whose fd number arrives in ``_NUBIS_CONTROL_FD``.
Every frame is ``!IB`` (length of the rest incl. the type byte, frame type)
followed by the body:

    engine -> runtime
      H  hello       body = nonce (ascii), sent once right after the start
      I  invoke      body = !qIIII (deadline epoch ms, lengths of request id,
                     invoked ARN, client context, trace id; 0xFFFFFFFF = none),
                     those strings (UTF-8), then the event bytes
    runtime -> engine
      R  ready       body = b"" (INIT finished)
      E  init error  body = error JSON (invoker receives it, requestId "")
      r  result      body = response bytes
      e  error       body = error JSON
    A runtime frame type with bit 0x80 set means "no log sentinel follows".
    Every runtime frame has ``!I`` between its type byte and its body: the
    process's peak RSS in kB (``ru_maxrss``, what /proc/<pid>/status calls
    VmHWM), so the engine's Max Memory Used costs no read of /proc per phase.

stdout and stderr share one pipe to the engine. At the end of every phase the
runtime flushes them; if the pipe still holds unread bytes it writes
``\\0<nonce> <request-id|INIT>\\n`` so the engine knows it has seen all of
that phase's output. If the pipe is already empty (FIONREAD == 0) the engine
has read everything before it can see the frame, so the sentinel is skipped
(and the frame carries bit 0x80): one write and one engine wake-up less.

The file is deliberately named ``bootstrap.py``: like RIC, stack frames whose
file name contains ``/bootstrap.py`` are cut from the error's stackTrace.
"""

import fcntl
import importlib
import json
import logging
import math
import os
import resource
import struct
import sys
import termios
import time
import traceback

_HDR = struct.Struct("!IB")
_HDR_RSS = struct.Struct("!IBI")
_INV = struct.Struct("!qIIII")
_NONE = 0xFFFFFFFF
NO_SENTINEL = 0x80

ERROR_LOG_LINE_TERMINATE = "\r"
ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE U+00A0

LAMBDA_WARNING = "LAMBDA_WARNING"
UNHANDLED_EXCEPTION_WARNING = (
    f"{LAMBDA_WARNING}: "
    "Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this "
    "error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)


class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


# --------------------------------------------------------------------------- context

W3C_ALLOWED_FIELDS = ("traceparent", "tracestate", "baggage")


class LambdaContext(object):
    def __init__(
        self,
        invoke_id,
        client_context,
        cognito_identity,
        epoch_deadline_time_in_ms,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        self.aws_request_id = invoke_id
        self.log_group_name = _ENV_LOG_GROUP
        self.log_stream_name = _ENV_LOG_STREAM
        self.function_name = _ENV_FUNCTION_NAME
        self.memory_limit_in_mb = _ENV_MEMORY
        self.function_version = _ENV_VERSION
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self._w3c_fields = self._extract_and_strip_w3c(client_context)

        self.client_context = make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = make_obj_from_dict(Client, self.client_context.client)

        self.identity = make_obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        epoch_now_in_ms = int(time.time() * 1000)
        delta_ms = self._epoch_deadline_time_in_ms - epoch_now_in_ms
        return delta_ms if delta_ms > 0 else 0

    def w3c(self):
        return dict(self._w3c_fields)

    @staticmethod
    def _extract_and_strip_w3c(client_context):
        if not isinstance(client_context, dict) or "w3c" not in client_context:
            return {}
        raw_w3c = client_context.pop("w3c")
        if not isinstance(raw_w3c, dict):
            return {}
        return {k: v for k in W3C_ALLOWED_FIELDS if isinstance(v := raw_w3c.get(k), str)}

    def log(self, msg):
        for handler in logging.getLogger().handlers:
            if hasattr(handler, "log_sink"):
                handler.log_sink.log(str(msg))
                return
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client(object):
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"custom={self.custom},"
            f"env={self.env},"
            f"client={self.client}"
            "])"
        )


def make_obj_from_dict(_class, _dict):
    if _dict is None:
        return None
    obj = _class()
    for field in _class.__slots__:
        setattr(obj, field, _dict.get(field, None))
    return obj


# --------------------------------------------------------------------------- marshalling

_DEC_MARK = "\x00nubis-decimal-" + os.urandom(6).hex() + ":"
_DEC_MARK_JSON = json.dumps(_DEC_MARK)[:-1]  # '"\u0000nubis-decimal-<random>:' (no closing quote)


class _Encoder(json.JSONEncoder):
    """JSON like RIC's simplejson encoder: Decimal kept exact, NaN allowed,
    non-ASCII kept as is from python3.12 on."""

    def __init__(self, ensure_ascii):
        super().__init__(ensure_ascii=ensure_ascii, allow_nan=True)
        self.saw_decimal = False

    def default(self, obj):
        # decimal is imported lazily: a Decimal can only exist if user code imported it.
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return math.nan
            # Marked string, replaced by the raw number after encoding.
            self.saw_decimal = True
            return _DEC_MARK + str(obj)
        return super().default(obj)

    def encode(self, obj):
        self.saw_decimal = False
        text = super().encode(obj)
        if self.saw_decimal:
            text = _unmark_decimals(text)
        return text


def _unmark_decimals(text):
    out = []
    pos = 0
    mark = _DEC_MARK_JSON
    while True:
        i = text.find(mark, pos)
        if i < 0:
            out.append(text[pos:])
            return "".join(out)
        j = text.index('"', i + len(mark))
        out.append(text[pos:i])
        out.append(text[i + len(mark) : j])
        pos = j + 1


def _make_encoder():
    modern = os.environ.get("AWS_EXECUTION_ENV") in {
        "AWS_Lambda_python3.12",
        "AWS_Lambda_python3.13",
        "AWS_Lambda_python3.14",
        "AWS_Lambda_python3.15",
    }
    return _Encoder(ensure_ascii=not modern)


def to_json(obj):
    return _make_encoder().encode(obj)


# --------------------------------------------------------------------------- errors


def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(
            FaultException.MALFORMED_HANDLER_NAME,
            "Bad handler '{}': {}".format(handler, str(e)),
        )

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(
            FaultException.IMPORT_MODULE_ERROR,
            "Unable to import module '{}': {}".format(modname, str(e)),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, str(e)),
            trace,
        )

    try:
        request_handler = getattr(m, fname)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND,
            "Handler '{}' missing on module '{}'".format(fname, modname),
            None,
        )
    return request_handler


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _user_frames(tb):
    tb_tuples = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i in range(len(tb_tuples)):
        if "/bootstrap.py" not in tb_tuples[i][0]:
            return tb_tuples[i:]
    return tb_tuples


def build_fault_result(exc_info, msg, invoke_id=None):
    etype, value, tb = exc_info
    return make_error(
        msg if msg else str(value),
        etype.__name__,
        traceback.format_list(_user_frames(tb)),
        invoke_id,
    )


def replace_line_indentation(line, indent_char, new_indent_char):
    n = 0
    for c in line:
        if c != indent_char:
            break
        n += 1
    return (new_indent_char * n) + line[n:]


def log_error(error_result):
    """RIC's text-mode error log line: one stdout write joined with \\r."""
    if _JSON_LOGS is not None:  # LogFormat JSON
        sys.stdout.write(_JSON_LOGS.error_line(error_result))
        return
    description = "[ERROR]"
    etype = error_result.get("errorType")
    if etype:
        description += " " + etype
    emsg = error_result.get("errorMessage")
    if emsg:
        if etype:
            description += ":"
        description += " " + emsg
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                for trace_line in element.splitlines():
                    lines.append(replace_line_indentation(trace_line, " ", ERROR_LOG_IDENT))
    sys.stdout.write(ERROR_LOG_LINE_TERMINATE.join(lines) + "\n")


# --------------------------------------------------------------------------- logging

_GLOBAL_AWS_REQUEST_ID = None
_GLOBAL_TENANT_ID = None


class StandardLogSink(object):
    def log(self, msg, frame_type=None):
        sys.stdout.write(msg)

    def log_error(self, message_lines):
        sys.stdout.write(ERROR_LOG_LINE_TERMINATE.join(message_lines) + "\n")


class LambdaLoggerHandler(logging.Handler):
    def __init__(self, log_sink):
        logging.Handler.__init__(self)
        self.log_sink = log_sink

    def emit(self, record):
        msg = self.format(record)
        self.log_sink.log(msg)


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
        record.tenant_id = _GLOBAL_TENANT_ID
        return True


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    handler = LambdaLoggerHandler(StandardLogSink())
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    if (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON":  # see json_logging.py
        _use_json_logs(handler)
        level = _JSON_LOGS.level_from_env(level)
    if level in logging._nameToLevel:
        logger.setLevel(level)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


_JSON_LOGS = None  # the json_logging module, once a function asks for LogFormat JSON


def _use_json_logs(handler):
    global _JSON_LOGS
    if _JSON_LOGS is None:
        import types

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "json_logging.py")
        mod = types.ModuleType("_nubis_json_logging")
        mod.__file__ = path
        with open(path, "rb") as f:
            exec(compile(f.read(), path, "exec"), mod.__dict__)
        _JSON_LOGS = mod
    handler.setFormatter(_JSON_LOGS.JsonFormatter())


# --------------------------------------------------------------------------- channel


class Channel:
    """Frames over the control socket, with plain os.read/os.write (importing
    the socket module would cost the cold start ~2 ms)."""

    def __init__(self, fd):
        os.set_inheritable(fd, False)  # user subprocesses must not hold it
        os.set_blocking(fd, True)
        self.fd = fd
        self.buf = bytearray()
        self.spin_s = 0.0  # how long the next wait for a frame polls before it blocks (see _spin_read)
        self.contended = False  # the last poll stopped because another process wanted this CPU
        self.caught = False  # the last poll caught the frame

    def recv_frame(self):
        """Next (type, body) or None at EOF."""
        buf = self.buf
        read = os.read
        fd = self.fd
        while True:
            if len(buf) >= 5:
                n, ftype = _HDR.unpack_from(buf)
                end = 4 + n
                if len(buf) >= end:
                    body = bytes(buf[5:end])
                    del buf[:end]
                    return ftype, body
                chunk = read(fd, max(end - len(buf), 65536))
            elif not buf and self.spin_s:
                chunk = self._spin_read()
            else:
                chunk = read(fd, 65536)
            if not chunk:
                return None
            buf += chunk

    def _spin_read(self):
        """The next bytes, polled for up to spin_s before a blocking read. A frame that comes
        within that time finds this process running: neither side pays for waking a sleeping
        process (on a VM, waking an idle vCPU costs tens of microseconds, the sender's included).
        Each miss yields the CPU; a yield that took long means another process ran meanwhile (the
        CPU is not idle): polling stops there and ``contended`` is set."""
        fd = self.fd
        read = os.read
        clock = _clock
        yield_cpu = _sched_yield
        os.set_blocking(fd, False)
        try:
            now = clock()
            end = now + self.spin_s
            while True:
                try:
                    data = read(fd, 65536)
                    self.caught = True
                    return data
                except BlockingIOError:
                    if now >= end:
                        break
                    yield_cpu()
                    t = clock()
                    if t - now > SPIN_YIELD_BUSY_S:
                        self.contended = True
                        break
                    now = t
        finally:
            os.set_blocking(fd, True)
        return read(fd, 65536)

    def send_frame(self, ftype, body=b""):
        """A runtime frame, with this process's peak RSS (kB) in its header."""
        head = _HDR_RSS.pack(len(body) + 5, ftype, _getrusage(_RUSAGE_SELF).ru_maxrss)
        if len(body) <= 65536:
            self._send_all(head + body)
        else:
            self._send_all(head)
            self._send_all(body)

    def _send_all(self, data):
        fd = self.fd
        n = os.write(fd, data)
        if n < len(data):
            view = memoryview(data)
            while n < len(view):
                n += os.write(fd, view[n:])


_getrusage = resource.getrusage
_RUSAGE_SELF = resource.RUSAGE_SELF
_clock = time.perf_counter
_sched_yield = getattr(os, "sched_yield", lambda: None)

# Between invocations the runtime polls its socket for up to SPIN_S (instead of sleeping at
# once) when the previous invocation came that soon after the answer before it: a client
# calling in a loop. Idle or seldom-called environments sleep as before; a machine with one
# CPU never polls (the sender could not run meanwhile).
SPIN_S = 0.001
SPIN_YIELD_BUSY_S = 0.00005  # a yield that returns later than this: the CPU had other work
SPIN_BACKOFF = 64  # at most this many invocations without polling after it was cut short that way
_SPIN_OK = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1

FT_HELLO = ord("H")
FT_INVOKE = ord("I")
FT_READY = ord("R")
FT_INIT_ERROR = ord("E")
FT_RESULT = ord("r")
FT_ERROR = ord("e")


# --------------------------------------------------------------------------- main loop

_ENV_LOG_GROUP = None
_ENV_LOG_STREAM = None
_ENV_FUNCTION_NAME = None
_ENV_MEMORY = None
_ENV_VERSION = None


def _flush_std():
    seen = []
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is None or stream in seen:
            continue
        seen.append(stream)
        try:
            stream.flush()
        except Exception:
            pass


def _die_with_parent():
    """A busy environment must not outlive a server killed with kill -9 (Linux: PR_SET_PDEATHSIG)."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the server died before the signal was armed
        os._exit(0)


def main():
    global _GLOBAL_AWS_REQUEST_ID, _ENV_LOG_GROUP, _ENV_LOG_STREAM, _ENV_FUNCTION_NAME
    global _ENV_MEMORY, _ENV_VERSION

    _die_with_parent()
    fd = int(os.environ.pop("_NUBIS_CONTROL_FD"))
    chan = Channel(fd)
    log_fd, end_phase = _greet(chan)

    env = os.environ
    _ENV_LOG_GROUP = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
    _ENV_LOG_STREAM = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
    _ENV_FUNCTION_NAME = env.get("AWS_LAMBDA_FUNCTION_NAME")
    _ENV_MEMORY = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    _ENV_VERSION = env.get("AWS_LAMBDA_FUNCTION_VERSION")

    # The task root comes first on sys.path, then the layers (as on Lambda:
    # /opt/python/lib/python3.X/site-packages, /opt/python), this runtime's folder not at all.
    here = os.path.dirname(os.path.abspath(__file__))
    task_root = env.get("LAMBDA_TASK_ROOT") or os.getcwd()
    opt = env.pop("_NUBIS_OPT_DIR", "")
    front = [task_root]
    if opt:
        front += ["%s/python/lib/python%d.%d/site-packages" % (opt, sys.version_info[0], sys.version_info[1]),
                  opt + "/python"]
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here and p not in front]
    sys.path[0:0] = front

    # ---- INIT
    error_result = None
    try:
        _setup_logging()
        request_handler = _get_handler(env.get("_HANDLER", ""))
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace)
    except Exception:
        error_result = build_fault_result(sys.exc_info(), None)

    # SnapStart: this process is the version's snapshot. Its before-snapshot hooks end INIT.
    snapshot = env.pop("_NUBIS_SNAPSHOT", "") == "1"
    exit_code = 1
    if error_result is None and snapshot:
        try:
            _run_before_snapshot()
        except Exception:
            error_result = build_fault_result(sys.exc_info(), None)
            exit_code = 64

    if error_result is not None:
        logging.warning(UNHANDLED_EXCEPTION_WARNING)
        log_error(error_result)
        flag = end_phase(b"INIT")
        chan.send_frame(FT_INIT_ERROR | flag, to_json(error_result).encode("utf-8", "surrogatepass"))
        sys.exit(exit_code)

    chan.send_frame(FT_READY | end_phase(b"INIT"))

    if snapshot:
        # Serve forks until the engine lets the snapshot go; returns in a restored environment.
        chan, end_phase = _restore(chan, log_fd)

    # ---- invocations, one at a time
    encoder = _make_encoder()
    unpack = _INV.unpack_from
    hsize = _INV.size
    loads = json.loads
    clock = _clock
    spin_ok = _SPIN_OK
    backoff = 0  # invocations left without polling
    next_backoff = 1  # doubles each time polling is cut short, back to 1 when a poll catches the frame
    answered = clock()
    while True:
        frame = chan.recv_frame()
        if frame is None:
            break
        if spin_ok:
            if chan.contended:
                chan.contended = False
                backoff = next_backoff
                next_backoff = min(next_backoff * 2, SPIN_BACKOFF)
            elif chan.caught:
                next_backoff = 1
            chan.caught = False
            if backoff:
                backoff -= 1
                chan.spin_s = 0.0
            else:
                chan.spin_s = SPIN_S if clock() - answered < SPIN_S else 0.0
        ftype, body = frame
        if ftype != FT_INVOKE:
            continue
        deadline, n_id, n_arn, n_cc, n_trace = unpack(body)
        p = hsize
        invoke_id = body[p : p + n_id].decode()
        p += n_id
        invoked_arn = body[p : p + n_arn].decode()
        p += n_arn
        cc = None
        if n_cc != _NONE:
            cc = body[p : p + n_cc].decode()
            p += n_cc
        trace_id = None
        if n_trace != _NONE:
            trace_id = body[p : p + n_trace].decode()
            p += n_trace
        event_body = body[p:]
        _GLOBAL_AWS_REQUEST_ID = invoke_id
        if trace_id is not None:
            env["_X_AMZN_TRACE_ID"] = trace_id
        elif "_X_AMZN_TRACE_ID" in env:
            del env["_X_AMZN_TRACE_ID"]

        error_result = None
        try:
            client_context = None
            if cc:
                client_context = _parse_json_header(cc, "Client Context")
            context = LambdaContext(invoke_id, client_context, None, deadline, invoked_arn, None)
            try:
                event = loads(event_body)
            except Exception as e:
                raise FaultException(
                    FaultException.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)), None
                )
            response = request_handler(event, context)
            if isinstance(response, bytes):
                result = response
            else:
                try:
                    result = encoder.encode(response).encode("utf-8", "surrogatepass")
                except Exception as e:
                    raise FaultException(
                        FaultException.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)), None
                    )
        except FaultException as e:
            error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
        except Exception:
            error_result = build_fault_result(sys.exc_info(), None, invoke_id)

        if error_result is not None:
            log_error(error_result)
            flag = end_phase(invoke_id.encode())
            chan.send_frame(FT_ERROR | flag, to_json(error_result).encode("utf-8", "surrogatepass"))
        else:
            chan.send_frame(FT_RESULT | end_phase(invoke_id.encode()), result)
        answered = clock()


def _hooks_module():
    """The ``snapshot_restore_py`` the function imported (its own copy, or the runtime's), or None."""
    return sys.modules.get("snapshot_restore_py")


def _run_before_snapshot():
    """Before-snapshot hooks, in the reverse order of registration (as awslambdaric runs them)."""
    mod = _hooks_module()
    if mod is None:
        return
    hooks = mod.get_before_snapshot()
    while hooks:
        func, args, kwargs = hooks.pop()
        func(*args, **kwargs)


def _run_after_restore():
    """After-restore hooks, in the order of registration."""
    mod = _hooks_module()
    if mod is None:
        return
    for func, args, kwargs in mod.get_after_restore():
        func(*args, **kwargs)


def _reseed():
    """What must not be shared by environments restored from one snapshot: random's state and the
    runtime's per-process secret (uuid4, secrets and os.urandom read the kernel anyway)."""
    global _DEC_MARK, _DEC_MARK_JSON
    rnd = sys.modules.get("random")
    if rnd is not None:
        rnd.seed()
    _DEC_MARK = "\x00nubis-decimal-" + os.urandom(6).hex() + ":"
    _DEC_MARK_JSON = json.dumps(_DEC_MARK)[:-1]


def _restore(chan, log_fd):
    """The snapshot's part: hand the process to the fork server the zygote installed
    (``_nubis_snapshot_serve``); it returns in a fork, the new environment, with its own control
    socket and log pipe. Then RESTORE: a hello, the after-restore hooks, and READY (its body: the
    time spent in here, in ms, the Billed Restore Duration) or an error frame."""
    serve = globals().get("_nubis_snapshot_serve")
    if serve is None:  # not forked by the nubis zygote: nothing can fork this process
        os._exit(70)
    ctl, log_w = serve()
    t0 = time.perf_counter()
    os.dup2(log_w, 1)
    os.dup2(log_w, 2)
    if log_w > 2:
        os.close(log_w)
    for fd in (chan.fd, log_fd):
        try:
            os.close(fd)
        except OSError:
            pass
    chan = Channel(ctl)
    log_fd, end_phase = _greet(chan)
    _reseed()
    try:
        _run_after_restore()
    except Exception:
        error_result = build_fault_result(sys.exc_info(), None)
        log_error(error_result)
        flag = end_phase(b"INIT")
        chan.send_frame(FT_INIT_ERROR | flag, to_json(error_result).encode("utf-8", "surrogatepass"))
        sys.exit(65)
    billed = "%.3f" % ((time.perf_counter() - t0) * 1000.0)
    chan.send_frame(FT_READY | end_phase(b"INIT"), billed.encode())
    return chan, end_phase


def _greet(chan):
    """Wait for the server's hello (its body: this environment's sentinel token; no hello:
    the server is gone, so exit) and return (log_fd, end_phase). log_fd is a private handle
    on the log pipe: user code may redirect fd 1."""
    first = chan.recv_frame()
    if first is None or first[0] != FT_HELLO:
        os._exit(0)
    log_fd = os.dup(1)
    os.set_inheritable(log_fd, False)
    return log_fd, _phase_ender(log_fd, b"\0" + first[1] + b" ")


def _phase_ender(log_fd, sentinel_prefix):
    nbuf = bytearray(4)
    ioctl = fcntl.ioctl
    FIONREAD = termios.FIONREAD
    byteorder = sys.byteorder

    def end_phase(token):
        """Flush output; returns the frame flag (0 or NO_SENTINEL)."""
        _flush_std()
        try:
            ioctl(log_fd, FIONREAD, nbuf)
            pending = int.from_bytes(nbuf, byteorder)
        except OSError:
            pending = 1
        if pending == 0:
            return NO_SENTINEL
        os.write(log_fd, sentinel_prefix + token + b"\n")
        return 0

    return end_phase


def _parse_json_header(header, name):
    try:
        return json.loads(header)
    except Exception as e:
        raise FaultException(
            FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
            "Unable to parse {} JSON: {}".format(name, str(e)),
            None,
        )


if __name__ == "__main__" and "__nubis_zygote__" not in globals():  # the zygote runs main() in a fork
    main()
