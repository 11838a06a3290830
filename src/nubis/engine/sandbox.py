"""Sandbox launcher: one process tree per execution environment.

This is the small, replaceable part that decides *how* an environment's process
is created and killed: here, an exec'd child process in its own session/process
group. Python environments are normally forked from a zygote instead
(:mod:`nubis.engine.zygote`, whose ``ForkedSandbox`` has the same interface); this
launcher is its fallback. The rest of the engine sees a handle with a pid, a
control socket, a log pipe, ``kill()`` and an exit callback.

Exit watching uses a pidfd in the event loop (no thread, no SIGCHLD handler, no
child watcher), and reaps with ``wait4`` to learn the peak RSS of the tree.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
from typing import Callable, Sequence

CONTROL_FD_ENV = "_NUBIS_CONTROL_FD"

ExitCallback = Callable[[int | None, int], None]  # (wait status or None if unknown, max RSS in kB)


# ---------------------------------------------------------------------------- shared by the launchers


def pidfd_exited(fd: int, timeout_ms: int = 0) -> bool:
    """A pidfd is readable once its process has exited: it is a zombie then (or reaped), so its
    pid and process group id cannot have been reused yet. (poll, not select: a busy server has
    fds above FD_SETSIZE.)"""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout_ms))


def open_status(pid: int) -> int | None:
    """An fd on /proc/<pid>/status (for :func:`read_vmhwm`), or None."""
    try:
        return os.open(f"/proc/{pid}/status", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def read_vmhwm(fd: int) -> int | None:
    """VmHWM (peak RSS, kB) from an fd on /proc/<pid>/status; None once the process is a zombie."""
    try:
        data = os.pread(fd, 4096, 0)
    except OSError:
        return None
    i = data.find(b"VmHWM:")
    if i < 0:
        return None  # zombie
    j = data.find(b"kB", i)
    try:
        return int(data[i + 6 : j])
    except ValueError:
        return None


class Sandbox:
    """A started environment process.

    ``control`` is the engine's end of the control socketpair, ``log_fd`` the
    read end of the pipe that carries the child's merged stdout and stderr.
    Both belong to the caller once :meth:`launch` returns.
    """

    def __init__(self, proc: subprocess.Popen, control: socket.socket, log_fd: int, report_fd: int | None = None) -> None:
        self.proc = proc
        self.pid: int = proc.pid
        self.control = control
        self.log_fd = log_fd
        self._report_fd = report_fd  # the confinement wrapper's report (one JSON line), if confined
        self.exit_status: int | None = None  # raw wait status once reaped
        self.max_rss_kb: int = 0
        self.reaped = False
        self._status_fd: int | None = None
        self._pidfd: int | None = None
        self._poll_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_exit: ExitCallback | None = None
        self._status_fd = open_status(self.pid)

    # ------------------------------------------------------------------ start

    @classmethod
    def launch(cls, argv: Sequence[str], *, cwd: str, env: dict[str, str], confine=None) -> "Sandbox":
        """Start ``argv`` in its own session with a private control socket.

        The child's end of the socketpair is passed with ``pass_fds``; its fd
        number is put in ``env[CONTROL_FD_ENV]``. stdout and stderr go to the
        same pipe. ``confine`` (a ``confinement.ConfinementConfig``): the process
        confines itself first (``confinement.exec_argv``'s wrapper), then execs
        ``argv``; its report arrives on a pipe (:meth:`confinement_report`).
        """
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe()
        child_fd = child_sock.fileno()
        env = dict(env)
        env[CONTROL_FD_ENV] = str(child_fd)
        pass_fds: tuple[int, ...] = (child_fd,)
        rep_r = rep_w = None
        if confine is not None:
            from . import confinement

            rep_r, rep_w = os.pipe()
            argv = confinement.exec_argv(confine, argv, report_fd=rep_w)
            pass_fds += (rep_w,)
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_w,
                stderr=log_w,
                pass_fds=pass_fds,
                close_fds=True,
                start_new_session=True,
            )
        except BaseException:
            parent_sock.close()
            os.close(log_r)
            if rep_r is not None:
                os.close(rep_r)
            raise
        finally:
            child_sock.close()
            os.close(log_w)
            if rep_w is not None:
                os.close(rep_w)
        parent_sock.setblocking(False)
        if rep_r is not None:
            os.set_blocking(rep_r, False)
        return cls(proc, parent_sock, log_r, rep_r)

    def exited(self) -> bool:
        """Has the process exited (even if the loop has not noticed yet)? One poll(2) on the pidfd."""
        if self.reaped:
            return True
        fd = self._pidfd
        return fd is not None and pidfd_exited(fd)

    def confinement_report(self) -> dict | None:
        """The confinement wrapper's report, once it has written it (non-blocking; read once)."""
        fd = self._report_fd
        if fd is None:
            return None
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        os.close(fd)
        self._report_fd = None
        try:
            return json.loads(data) if data else None
        except ValueError:
            return None

    # ------------------------------------------------------------------ memory

    def peak_rss_kb(self) -> int | None:
        """VmHWM of the environment process (kB), or None when it is gone."""
        fd = self._status_fd
        if fd is None or self.reaped:
            return None
        return read_vmhwm(fd)

    # ------------------------------------------------------------------ exit

    def watch(self, loop: asyncio.AbstractEventLoop, on_exit: ExitCallback) -> None:
        """Call ``on_exit(wait_status, max_rss_kb)`` from the loop once the
        process has exited and was reaped (its process group is killed first)."""
        self._loop = loop
        self._on_exit = on_exit
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self._pidfd = None
        if self._pidfd is not None:
            loop.add_reader(self._pidfd, self._check)
        else:  # pragma: no cover - kernels without pidfd
            self._poll_handle = loop.call_later(0.02, self._poll)
        # The process may already be gone.
        self._check()

    def _poll(self) -> None:  # pragma: no cover
        self._poll_handle = None
        self._check()
        if not self.reaped and self._loop is not None:
            self._poll_handle = self._loop.call_later(0.05, self._poll)

    def _check(self) -> None:
        if self.reaped:
            return
        if self._pidfd is not None:
            if not pidfd_exited(self._pidfd):
                return
            self._killpg()
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status, ru = self.pid, None, None
        if pid == 0:
            return
        if self._pidfd is None:  # pragma: no cover
            self._killpg_after_reap()
        self._finish(status, ru.ru_maxrss if ru is not None else 0)

    def _finish(self, status: int | None, maxrss: int) -> None:
        self.reaped = True
        self.exit_status = status
        self.max_rss_kb = maxrss
        if status is not None:
            try:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
            except ValueError:  # pragma: no cover
                self.proc.returncode = -1
        else:
            self.proc.returncode = -1
        self._close_fds()
        cb, self._on_exit = self._on_exit, None
        if cb is not None:
            cb(status, maxrss)

    def _close_fds(self) -> None:
        if self._report_fd is not None:
            os.close(self._report_fd)
            self._report_fd = None
        if self._pidfd is not None:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(self._pidfd)
                except Exception:  # pragma: no cover
                    pass
            os.close(self._pidfd)
            self._pidfd = None
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        if self._status_fd is not None:
            os.close(self._status_fd)
            self._status_fd = None

    def _killpg(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _killpg_after_reap(self) -> None:  # pragma: no cover
        # Without a pidfd there is a tiny pid-reuse window; accept it there.
        self._killpg()

    def kill(self) -> None:
        """SIGKILL the whole process group (no-op once reaped)."""
        if not self.reaped:
            self._killpg()

    def reap_blocking(self) -> None:
        """Kill and reap synchronously (for use outside a running loop)."""
        if self.reaped:
            return
        self._killpg()
        try:
            _, status, ru = os.wait4(self.pid, 0)
        except ChildProcessError:
            status, ru = None, None
        self._finish(status, ru.ru_maxrss if ru is not None else 0)


# Go's syscall.Signal names (the Lambda platform is written in Go, and its
# ExitError messages print them: "signal: killed").
_GO_SIGNAL_NAMES = {
    1: "hangup",
    2: "interrupt",
    3: "quit",
    4: "illegal instruction",
    5: "trace/breakpoint trap",
    6: "aborted",
    7: "bus error",
    8: "floating point exception",
    9: "killed",
    10: "user defined signal 1",
    11: "segmentation fault",
    12: "user defined signal 2",
    13: "broken pipe",
    14: "alarm clock",
    15: "terminated",
    16: "stack fault",
    17: "child exited",
    18: "continued",
    19: "stopped (signal)",
    20: "stopped",
    21: "stopped (tty input)",
    22: "stopped (tty output)",
    23: "urgent I/O condition",
    24: "CPU time limit exceeded",
    25: "file size limit exceeded",
    26: "virtual timer expired",
    27: "profiling timer expired",
    28: "window changed",
    29: "I/O possible",
    30: "power failure",
    31: "bad system call",
}


def describe_exit(status: int | None) -> str:
    """Lambda's wording for a runtime process exit."""
    if status is None:
        return "Runtime exited without providing a reason"
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code == 0:
            return "Runtime exited without providing a reason"
        return f"Runtime exited with error: exit status {code}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = _GO_SIGNAL_NAMES.get(sig, f"signal {sig}")
        core = " (core dumped)" if os.WCOREDUMP(status) else ""
        return f"Runtime exited with error: signal: {name}{core}"
    return "Runtime exited without providing a reason"  # pragma: no cover
