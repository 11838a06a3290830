"""nubis Python zygote: forks execution environments with the runtime already loaded (stdlib only).

Started by the engine as ``<python> zygote.py <bootstrap.py>`` in its own session. It loads the
runtime bootstrap (as the ``__main__`` module its children will run, exactly as
``python bootstrap.py`` would define it), imports the common libraries listed in
``_NUBIS_ZYGOTE_PRELOAD`` (a library that fails to import is skipped and reported), calls
``gc.freeze()``, and then serves the engine over the SOCK_SEQPACKET socket whose fd number is in
``_NUBIS_ZYGOTE_FD``. One JSON object per message; fds travel with SCM_RIGHTS.

Forking is taken off the cold-start path: the zygote keeps a *spare* child forked in advance. A
spare has already done everything that does not depend on the function (new session,
PR_SET_PDEATHSIG, default signal handlers, none of the zygote's fds) and waits on its own job
socket, which the engine holds. A cold start is then one message from the engine straight to the
spare; the engine asks the zygote for the next spare afterwards.

    zygote -> engine
      {"t": "hello", "pid", "preloaded": [top-level module names], "failed": {name: error}}
      {"t": "s", "pid": pid}                       + fds [pidfd of the spare, its job socket]
      {"t": "x", "pid": pid, "status": wait status, "rss": ru_maxrss kB}
    engine -> zygote
      {"t": "spare", "tags": [t, ...], "cgroups": [[cgroup.procs files] | null, ...], "now": bool}
                                                   fork one spare per tag (its reply echoes the tag);
                                                   "now": launches wait for them, skip the rehearsal
    engine -> spare (job socket)
      {"cwd": dir, "env": {...}}                   + fds [control socket, log pipe write end]
      {"cwd", "env", "exec": argv}                 the same, for a runtime that is not this Python
                                                   (Node.js, a custom bootstrap): confined, it execs argv

With its job the spare becomes what ``python bootstrap.py`` would have been: the log pipe on fds 1
and 2, the function's environment, cwd and sys.path, a fresh random seed; then the bootstrap's
``main()`` runs from the top level of this file, so SystemExit and uncaught exceptions end the
process as they would end ``python bootstrap.py`` (INIT = importing the handler module, in the
child). EOF on the job socket instead of a job: the spare exits.

Confinement (when the engine enables it): the engine passes the path of ``nubis/engine/confinement.py``
in ``_NUBIS_CONFINEMENT`` (this file imports nothing from nubis, so it loads that module by path) and
the function-independent configuration in ``_NUBIS_SPARE_CONFINE``. The zygote loads it and warms it
before any fork; every spare applies that part (``confinement.prepare``: namespaces, the mount tree,
a fresh /proc) while it waits; a job then carries the function's part in ``"confine"`` (cgroup, uid,
/tmp size, code dir, layers, seccomp), which the spare applies (``confinement.complete``) before
anything of the function runs, and answers the report on its job socket:

    spare -> engine (job socket)
      {"report": {"refused": [[step, reason], ...]}}

The zygote is a child subreaper: what an environment leaves behind (daemonised or orphaned
processes) is re-parented to it and reaped, so it never lingers as a zombie that still counts
against its uid's RLIMIT_NPROC.

The zygote watches every child with a pidfd; when one exits it kills the child's process group
(the dead leader still holds the group id), reaps it with ``wait4`` and reports the wait status
and peak RSS. EOF on the engine socket means stop: all children's groups are killed and reaped.
The zygote dies with the engine (PR_SET_PDEATHSIG), its children die with the zygote.
"""

import sys

_STARTUP_MODULES = frozenset(sys.modules)  # what a bare interpreter start has imported

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import _signal  # noqa: E402  (signal's C module: no enum wrapping)
import socket  # noqa: E402
import time  # noqa: E402

_RECV_BUF = 256 * 1024  # a job: the function's environment (Lambda allows 4 KB of variables)

# What a freshly started CPython installs; every other signal has its default disposition.
_FRESH_SIGNALS = {signal.SIGINT: signal.default_int_handler, signal.SIGPIPE: signal.SIG_IGN}
if hasattr(signal, "SIGXFSZ"):
    _FRESH_SIGNALS[signal.SIGXFSZ] = signal.SIG_IGN


def _signal_resets():
    """(signal number, handler) for each signal whose disposition differs from a fresh
    interpreter's (a handler installed from C shows as None: reset too)."""
    out = []
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        want = _FRESH_SIGNALS.get(sig, signal.SIG_DFL)
        try:
            if signal.getsignal(sig) is not want:
                out.append((int(sig), int(want) if isinstance(want, int) else want))  # _signal wants plain ints
        except (OSError, ValueError):  # pragma: no cover
            pass
    return tuple(out)


def _prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover
        return None


_PRCTL = _prctl()


def _die_with(parent_pid):
    """PR_SET_PDEATHSIG(SIGKILL); exit at once if ``parent_pid`` is already gone."""
    if _PRCTL is not None:
        _PRCTL(1, 9)
    if os.getppid() != parent_pid:
        os._exit(0)


def _pdeathsig_armed():
    pass


def _load_confinement(path):
    """nubis/engine/confinement.py, loaded by path (the runtime imports nothing from nubis)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_nubis_confinement", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_nubis_confinement"] = mod
    spec.loader.exec_module(mod)
    return mod


# Names (and the shape) of an environment's variables, for the rehearsal.
_REHEARSAL_KEYS = (
    "LD_LIBRARY_PATH PYTHONPATH AWS_XRAY_CONTEXT_MISSING _HANDLER AWS_REGION AWS_DEFAULT_REGION "
    "AWS_EXECUTION_ENV AWS_LAMBDA_FUNCTION_NAME AWS_LAMBDA_FUNCTION_MEMORY_SIZE AWS_LAMBDA_FUNCTION_VERSION "
    "AWS_LAMBDA_INITIALIZATION_TYPE AWS_LAMBDA_LOG_GROUP_NAME AWS_LAMBDA_LOG_STREAM_NAME LAMBDA_TASK_ROOT "
    "LAMBDA_RUNTIME_DIR AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN "
    "_NUBIS_CONTROL_FD"
).split()


def _load_bootstrap(path):
    """The bootstrap module as ``python bootstrap.py`` defines its ``__main__`` (without running it)."""
    import builtins
    import importlib.machinery
    import types

    mod = types.ModuleType("__main__")  # __name__, __doc__, __package__, __loader__, __spec__
    ns = mod.__dict__
    ns["__loader__"] = importlib.machinery.SourceFileLoader("__main__", path)
    ns.update(__annotations__={}, __builtins__=builtins, __file__=path, __cached__=None)
    ns["__nubis_zygote__"] = True  # keeps the bootstrap from running main() now
    with open(path, "rb") as f:
        source = f.read()
    exec(compile(source, path, "exec"), ns)
    del ns["__nubis_zygote__"]
    return mod


def _startup_additions():
    """Variables the interpreter's start added to the environment (PEP 538 sets LC_CTYPE when the
    locale is C): an exec'd runtime with the same LANG / LC_* gets the same."""
    try:
        with open("/proc/self/environ", "rb") as f:
            given = {item.partition(b"=")[0] for item in f.read().split(b"\0") if item}
    except OSError:  # pragma: no cover
        return {}
    return {k: v for k, v in os.environ.items() if os.fsencode(k) not in given}


def _preload(names):
    failed = {}
    for name in names:
        try:
            __import__(name)
        except Exception as e:  # skipped, reported to the engine
            failed[name] = f"{type(e).__name__}: {e}"
    return failed


def _top(names):
    return {n.partition(".")[0] for n in names}


def _send(sock, obj, fds=None):
    data = json.dumps(obj, separators=(",", ":")).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


class Zygote:
    def __init__(self, sock, startup_env, confinement=None, spare_confine=None):
        self.sock = sock
        self.startup_env = startup_env
        self.sfd = sock.fileno()
        self.pid = os.getpid()
        self.children = {}  # pidfd -> pid
        self.poller = select.poll()
        self.cf = confinement  # the confinement module, or None
        self.spare_cfg = spare_confine  # ConfinementConfig of the spares' phase, or None
        self.prepared = None  # in a spare: what confinement.prepare() set up
        self.spare_cgroup = ()  # in a spare: the cgroup.procs files of the group it joins while waiting
        self.wake_r = self.wake_w = None
        self.rehearsal = True  # in a spare: rehearse the runtime's start while waiting
        if _PRCTL is not None:
            _PRCTL(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of environments come to us
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_r, self.wake_w = r, w
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, _on_sigchld)
        # What a spare must reset to look freshly started, worked out once here (the zygote's own
        # handlers do not change once it serves) rather than by ~120 enum-wrapped calls per spare.
        self.signal_resets = _signal_resets()

    # ------------------------------------------------------------------ loop

    def serve(self):
        """Serve until EOF (returns None), or until this process is a new spare (returns its job socket)."""
        poller = self.poller
        poller.register(self.sfd, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        job = self._fork_spare()
        if job is not None:
            return job
        while self.sock is not None:
            try:
                events = poller.poll()
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            for fd, _ in events:
                if fd == self.sfd:
                    job = self._on_request()
                    if job is not None:
                        return job
                    if self.sock is None:
                        break
                elif fd == self.wake_r:
                    try:
                        while os.read(fd, 512):
                            pass
                    except OSError:
                        pass
                    self._reap_orphans()
                elif fd in self.children:
                    self._reap(fd)
        return None

    def _reap_orphans(self):
        """Reap whatever else has exited: processes an environment left behind, re-parented to us."""
        known = {pid: fd for fd, pid in self.children.items()}
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            except InterruptedError:  # pragma: no cover
                continue
            if info is None or not info.si_pid:
                return
            pid = info.si_pid
            fd = known.pop(pid, None)
            if fd is not None:
                self._reap(fd)  # one of ours: reported to the engine
                continue
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # pragma: no cover
                pass

    def _on_request(self):
        try:
            msg, fds, _flags, _addr = socket.recv_fds(self.sock, _RECV_BUF, 4)
        except OSError:
            msg, fds = b"", []
        for fd in fds:  # none expected
            os.close(fd)
        if not msg:
            self.stop()
            return None
        try:
            req = json.loads(msg)
        except ValueError:
            req = {}
        if req.get("t") == "spare":
            tags = req.get("tags") or ()
            cgroups = req.get("cgroups") or ()
            if len(tags) == 1:
                job = self._fork_spare(tags[0], cgroups[0] if cgroups else None)
            else:
                job = self._fork_spares(tags, cgroups)
            if job is not None:
                self.rehearsal = not req.get("now")
                return job
        return None

    def _fork_spares(self, tags, cgroups):
        """A batch (a burst): fork them all, then register and announce them. Every fork
        write-protects the zygote's pages again, so the loop between two forks does as little
        as it can (each page it writes is copied once per fork); the replies come after."""
        born = []
        try:
            for i, tag in enumerate(tags):
                mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                gc.freeze()
                try:
                    pid = os.fork()
                except OSError:
                    mine.close()
                    theirs.close()
                    break  # the engine's next request tries again
                if pid == 0:
                    for _pid, other, _tag in born:  # the engine's ends of the spares forked before
                        other.close()
                    theirs.close()
                    self.spare_cgroup = (cgroups[i] if i < len(cgroups) else None) or ()
                    return mine
                mine.close()
                born.append((pid, theirs, tag))
        finally:
            if os.getpid() == self.pid:
                for pid, theirs, tag in born:
                    self._announce(pid, theirs, tag)
        return None

    def _fork_spare(self, tag=None, cgroup=None):
        """Fork a spare for the engine's request (``tag``; ``cgroup``: the cgroup.procs files the
        spare joins while it waits); the reply echoes the tag."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        gc.freeze()  # whatever the loop allocated stays out of the children's collections too
        try:
            pid = os.fork()
        except OSError:
            mine.close()
            theirs.close()
            return None  # the engine's next request tries again
        if pid == 0:
            theirs.close()
            self.spare_cgroup = cgroup or ()
            return mine
        mine.close()
        self._announce(pid, theirs, tag)
        return None

    def _announce(self, pid, theirs, tag):
        """Watch a new spare and hand the engine its pidfd and job socket."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # pragma: no cover - our own unreaped child
            theirs.close()
            return
        self.children[pidfd] = pid
        self.poller.register(pidfd, select.POLLIN)
        self._reply({"t": "s", "pid": pid, "tag": tag}, [pidfd, theirs.fileno()])
        theirs.close()

    def _reap(self, pidfd):
        pid = self.children.pop(pidfd, None)
        if pid is None:  # pragma: no cover
            return
        self.poller.unregister(pidfd)
        os.close(pidfd)
        # The leader is a zombie: its pid (= process group id) cannot have been reused.
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            _, status, ru = os.wait4(pid, 0)
            rss = ru.ru_maxrss
        except ChildProcessError:  # pragma: no cover
            status, rss = None, 0
        self._reply({"t": "x", "pid": pid, "status": status, "rss": rss})

    def _reply(self, obj, fds=None):
        if self.sock is None:
            return
        try:
            _send(self.sock, obj, fds)
        except OSError:  # the engine is gone
            self.stop()

    def stop(self):
        """Kill every child's process group and reap them; close the engine socket."""
        for pid in self.children.values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        for pidfd, pid in self.children.items():
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            os.close(pidfd)
        self.children.clear()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # ------------------------------------------------------------------ in a spare

    def leave_zygote(self):
        """What a forked child drops of the zygote: its session, its sockets, pidfds and wake-up pipe."""
        os.setsid()
        _die_with(self.pid)
        signal.set_wakeup_fd(-1)
        self.sock.close()
        self.sock = None
        for pidfd in self.children:
            os.close(pidfd)
        self.children.clear()
        self.poller = None
        for fd in (self.wake_r, self.wake_w):
            if fd is not None:
                os.close(fd)
        self.wake_r = self.wake_w = None

    def become_spare(self, job_sock):
        """Everything a new runtime process needs that does not depend on the function."""
        self.leave_zygote()
        keep = job_sock.fileno()
        os.closerange(3, keep)  # anything else inherited, as close_fds=True would do
        os.closerange(keep + 1, 1 << 20)
        for sig, want in self.signal_resets:
            try:
                _signal.signal(sig, want)
            except (OSError, ValueError):  # pragma: no cover
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, ())

    def rehearse(self, bootstrap):
        """While idle, touch what every environment's start touches: the copy-on-write page faults
        (a few µs each, hundreds of them) are then paid before the function arrives, not during its
        cold start. Leaves no trace (the function's environment replaces os.environ)."""
        own = dict(os.environ)  # LANG, TZ, PATH, ... as the zygote was started
        rehearsal = dict(own)
        rehearsal.update((k, "/rehearsal/" + k) for k in _REHEARSAL_KEYS)
        os.environ.clear()
        os.environ.update(rehearsal)
        os.environ.clear()
        os.environ.update(own)
        import logging

        root = logging.getLogger()
        before = list(root.handlers)
        bootstrap._setup_logging()
        for h in root.handlers:
            if h not in before:
                root.removeHandler(h)
        d = os.path.join(os.path.dirname(bootstrap.__file__), "rehearsal")
        sys.path.insert(0, d)
        try:
            bootstrap._get_handler("nubis_rehearsal.handler")
        except Exception:  # pragma: no cover
            pass
        finally:
            sys.path.remove(d)
            sys.path_importer_cache.pop(d, None)
            sys.modules.pop("nubis_rehearsal", None)
        ctx = bootstrap.LambdaContext("rehearsal", None, None, 0, "arn:aws:lambda:::function:rehearsal")
        ctx.get_remaining_time_in_millis()
        bootstrap._make_encoder().encode({"rehearsal": [1, 2.5, None, True, "x"]})
        json.loads(b'{"rehearsal": [1, 2.5, null, true, "x"]}')
        gc.freeze()  # what the rehearsal left stays out of the function's collections

    def confine_ahead(self):
        """The function-independent part of the confinement, while the spare waits."""
        if self.cf is not None and self.spare_cfg is not None:
            cfg = self.spare_cfg
            if self.spare_cgroup:  # joining a cgroup waits for an RCU grace period: do it now, not in the cold start
                cfg = cfg.replace(cgroup_procs=tuple(self.spare_cgroup))
            self.prepared = self.cf.prepare(cfg, split=True, for_uid=self.cf.UID_BASE)

    def take_job(self, job_sock, bootstrap):
        """Wait for the function; then look like ``python bootstrap.py`` started for it."""
        msg, fds, _flags, _addr = socket.recv_fds(job_sock, _RECV_BUF, 4)
        if not msg or len(fds) != 2:
            os._exit(0)  # no job: the engine let this spare go
        ctl, log_w = fds
        job = json.loads(msg)
        conf = job.get("confine")
        if conf is not None and self.cf is not None:
            cf = self.cf
            prep = self.prepared if self.prepared is not None else cf.prepare(
                cf.ConfinementConfig.from_dict(conf), split=True)
            report = cf.complete(prep, cf.ConfinementConfig.from_dict(conf))
            try:  # the engine only needs what was refused
                job_sock.send(json.dumps({"report": {"refused": report.refused}}, separators=(",", ":")).encode())
            except OSError:
                pass
            if os.getppid() != self.pid:  # the zygote died before the parent-death signal was armed again
                os._exit(0)
        if job["env"].get("_NUBIS_SNAPSHOT") == "1":
            # SnapStart: after INIT this process serves forks of itself on the job socket.
            bootstrap._nubis_snapshot_serve = lambda: serve_snapshot(job_sock, self.startup_env)
        else:
            job_sock.close()
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        if log_w > 2:
            os.close(log_w)
        if job.get("exec"):
            _exec_runtime(job, ctl)  # never returns
        env = job["env"]
        env["_NUBIS_CONTROL_FD"] = str(ctl)
        for k, v in self.startup_env.items():
            env.setdefault(k, v)
        tz_before = os.environ.get("TZ")
        os.environ.clear()
        os.environ.update(env)
        try:
            os.chdir(job["cwd"])
        except OSError as e:  # as `python bootstrap.py` started there would: it cannot run
            os.write(2, ("nubis: cannot enter the function's code directory %s: %s (functions run under uids of "
                         "their own: the code must be readable by all, directories 755 and files 644)\n"
                         % (job["cwd"], e.strerror)).encode())
            os._exit(1)
        if env.get("TZ") != tz_before:
            time.tzset()
        # sys.path as `python bootstrap.py` with this PYTHONPATH would have it (sys.path[0] is
        # the runtime's folder, which the bootstrap takes out).
        sys.path[1:1] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        path = bootstrap.__file__
        sys.argv[:] = [path]
        if hasattr(sys, "orig_argv"):
            sys.orig_argv = [sys.executable, path]
        rnd = sys.modules.get("random")
        if rnd is not None:
            rnd.seed()
        mark = "\x00nubis-decimal-" + os.urandom(6).hex() + ":"  # the bootstrap's per-process secret
        bootstrap._DEC_MARK = mark
        bootstrap._DEC_MARK_JSON = json.dumps(mark)[:-1]
        sys.modules["__main__"] = bootstrap
        # The spare set PR_SET_PDEATHSIG against the zygote (its parent) already.
        bootstrap._die_with_parent = _pdeathsig_armed
        # What the job brought stays out of the collections too: gc was off since the zygote
        # started, so the first allocation after enable() would collect it all (~0.2 ms of INIT).
        gc.freeze()
        gc.enable()


class SnapshotServer(Zygote):
    """SnapStart: the version's snapshot (a confined environment that has run INIT and its
    before-snapshot hooks) forks the version's new environments, speaking the zygote's protocol to
    the engine on its job socket. It runs as the function's uid, under the function's seccomp
    filter, in the function's namespaces: a fork needs none of the calls that filter denies
    (no unshare, no mount). The engine moves each fork into a cgroup of its own from outside.

    A fork keeps what the snapshot had (its memory, the fds the function opened during INIT, the
    signal handlers it installed); it drops the server's own fds, dies with the snapshot, and waits
    on its job socket for its control socket and log pipe: ``{}`` + fds [control, log write end]."""

    def become_spare(self, job_sock):
        self.leave_zygote()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if _PRCTL is not None:
            _PRCTL(36, 0)  # no longer the subreaper of its siblings' orphans

    def take_restore_job(self, job_sock):
        msg, fds, _flags, _addr = socket.recv_fds(job_sock, _RECV_BUF, 4)
        if not msg or len(fds) != 2:
            os._exit(0)  # no job: the engine let this spare go
        job_sock.close()
        return fds[0], fds[1]


def serve_snapshot(job_sock, startup_env):
    """Called by the bootstrap once INIT and the before-snapshot hooks are done. Returns
    (control fd, log pipe fd) in a fork: a new environment, restored from this snapshot.
    Exits when the engine closes the channel."""
    job_sock.setblocking(True)
    gc.collect()  # what INIT left as garbage is not copied into every fork
    gc.freeze()
    srv = SnapshotServer(job_sock, startup_env)
    _send(job_sock, {"t": "hello", "pid": srv.pid, "preloaded": [], "failed": {},
                     "python": list(sys.version_info[:2])})
    child_sock = srv.serve()
    if child_sock is None:
        os._exit(0)
    srv.become_spare(child_sock)
    return srv.take_restore_job(child_sock)


def _on_sigchld(_sig, _frame):
    pass  # the wakeup fd tells the loop


def _exec_runtime(job, ctl):
    """A runtime that is not this Python (Node.js, a custom runtime's bootstrap): the spare, confined
    already, becomes it as a fresh exec from the engine would (signals at their defaults, exactly
    the function's environment, nothing but stdin/stdout/stderr open)."""
    os.close(ctl)
    argv, env = job["exec"], job["env"]
    for sig in (signal.SIGPIPE, signal.SIGINT, getattr(signal, "SIGXFSZ", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd != 0:
            os.dup2(fd, 0)
            os.close(fd)
        os.chdir(job["cwd"])
        os.execve(argv[0], argv, env)
    except OSError as e:
        os.write(2, ("fork/exec %s: %s\n" % (argv[0], (e.strerror or str(e)).lower())).encode())
    os._exit(127)


def _main():
    startup_env = _startup_additions()
    env = os.environ
    fd = int(env.pop("_NUBIS_ZYGOTE_FD"))
    parent = int(env.pop("_NUBIS_ZYGOTE_PARENT", "0") or 0)
    preload = [n for n in env.pop("_NUBIS_ZYGOTE_PRELOAD", "").replace(",", " ").split() if n]
    cf_path = env.pop("_NUBIS_CONFINEMENT", "")
    spare_conf = env.pop("_NUBIS_SPARE_CONFINE", "")
    if parent:
        _die_with(parent)
    os.set_inheritable(fd, False)
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)

    bootstrap = _load_bootstrap(os.path.abspath(sys.argv[1]))
    failed = _preload(preload)
    preloaded = sorted(_top(sys.modules) - _top(_STARTUP_MODULES) - set(sys.builtin_module_names))
    confinement = spare_cfg = None
    if cf_path:
        confinement = _load_confinement(cf_path)
        if spare_conf:
            spare_cfg = confinement.ConfinementConfig.from_dict(json.loads(spare_conf))
        confinement.warm(spare_cfg)
    gc.collect()
    gc.disable()
    gc.freeze()
    zyg = Zygote(sock, startup_env, confinement, spare_cfg)
    _send(sock, {"t": "hello", "pid": zyg.pid, "preloaded": preloaded, "failed": failed,
                 "python": list(sys.version_info[:2])})
    job_sock = zyg.serve()
    if job_sock is None:
        return None
    zyg.become_spare(job_sock)
    if zyg.rehearsal:
        zyg.rehearse(bootstrap)
    zyg.confine_ahead()
    zyg.take_job(job_sock, bootstrap)
    return bootstrap


if __name__ == "__main__":
    _runtime = _main()
    if _runtime is not None:
        _runtime.main()
