"""A small managed-process abstraction for the local stack's services.

A `ServiceSpec` says how to run one service (argv, env, health check, ports...).
A `ManagedProcess` runs it detached from the caller (own session and process group), with
a pidfile at `<state>/run/<name>.pid` and a log at `<state>/logs/<name>.log`, and can tell
its status and stop it (stop signal to the group, then SIGKILL after a grace period).

Starting is idempotent: a live, healthy service is reported "already running" and not
started twice. A service that exits or stays unhealthy raises `ServiceError`, which names
the service and its log and quotes the log's last lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

Progress = Callable[[str], None]
HealthCheck = Callable[[], bool]

RUNNING = "running"  # process alive and healthy
UNHEALTHY = "unhealthy"  # process alive, health check failing (starting, or broken)
STOPPED = "stopped"  # no pidfile
STALE = "stale"  # pidfile, but its process is gone
EXTERNAL = "external"  # not ours: a server we use but do not manage (e.g. PostgreSQL)

LOG_TAIL_LINES = 30


def print_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def quiet(message: str) -> None:
    return None


class ServiceError(RuntimeError):
    """A service failed to start/stop: names the service, its log, and the log's tail."""

    def __init__(self, name: str, message: str, log_path: Path | None = None):
        self.name = name
        self.log_path = log_path
        text = f"{name}: {message}"
        if log_path is not None:
            text += f"\n  log: {log_path}"
            tail = tail_lines(log_path)
            cause = _error_line(tail)
            if cause:
                text += f"\n  cause: {cause}"
            if tail:
                text += f"\n  last lines of the log:\n{_indent(tail)}"
        super().__init__(text)


_ERROR_MARKERS = ("Error", "Exception", "FATAL", "error:", "ERROR", "refused", "denied")


def _error_line(tail: str) -> str:
    """The last line of a log tail that looks like an error message ('' if none)."""
    for line in reversed(tail.splitlines()):
        text = line.strip()
        if text and not text.startswith(("File ", "^", "~")) and any(
                marker in text for marker in _ERROR_MARKERS):
            return text[:500]
    return ""


def _indent(text: str, prefix: str = "    | ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def tail_lines(path: Path, n: int = LOG_TAIL_LINES, max_bytes: int = 64 * 1024) -> str:
    """The last `n` lines of a text file ('' if missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-n:])


def port_in_use(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _ephemeral_ports() -> range:
    """The ports the kernel hands to outgoing connections (Linux; elsewhere its default)."""
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    return range(32768, 61000)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (for tests and experiments), outside the ephemeral
    range: a port the kernel chose there can be taken by any outgoing connection (a client of
    PostgreSQL, say) in the seconds before the service binds it ("address already in use")."""
    ephemeral = _ephemeral_ports()
    candidates = [p for p in range(10_000, 65_536) if p not in ephemeral]
    # not the module-level generator: a test seeding it would give every worker the same ports
    for port in random.SystemRandom().sample(candidates, min(200, len(candidates))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0, accept: Callable[[int], bool] | None = None) -> bool:
    """Whether GET `url` answers with an accepted status (default: 2xx)."""
    import urllib.error
    import urllib.request

    accept = accept or (lambda status: 200 <= status < 300)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return accept(resp.status)
    except urllib.error.HTTPError as err:
        return accept(err.code)
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service."""

    name: str
    argv: Sequence[str]
    health: HealthCheck  # quick check (short internal timeouts); True when the service answers
    url: str | None = None  # shown by status / up
    env: Mapping[str, str] | None = None  # full environment of the child (None: inherit)
    cwd: Path | None = None
    user: str | None = None  # run as this system user (e.g. PostgreSQL when we are root)
    ports: Sequence[tuple[str, int]] = ()  # must be free before starting
    start_timeout: float = 60.0
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 15.0
    # Called before the process starts (e.g. initdb); gets the log path to append to.
    prepare: Callable[[Path], None] | None = None
    # The services that must be up before this one starts (and stay up until it has stopped);
    # None: every service listed before it. Services with nothing between them start at once.
    after: Sequence[str] | None = None


@dataclass
class ServiceStatus:
    name: str
    state: str
    pid: int | None = None
    url: str | None = None
    log_path: Path | None = None
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state in (RUNNING, EXTERNAL)

    def line(self) -> str:
        parts = [f"{self.name:<22} {self.state:<10}"]
        parts.append(f"pid={self.pid}" if self.pid else "pid=-")
        if self.url:
            parts.append(self.url)
        if self.log_path:
            parts.append(f"log={self.log_path}")
        if self.detail:
            parts.append(f"({self.detail})")
        return "  ".join(parts)


@dataclass
class StartResult:
    status: ServiceStatus
    started: bool  # False when it was already running
    seconds: float = 0.0


@dataclass
class _PidInfo:
    pid: int
    pgid: int
    create_time: float | None = None
    argv: list[str] = field(default_factory=list)


# Popen objects of the children started by this Python process, so they can be reaped.
_CHILDREN: dict[int, subprocess.Popen] = {}


class ManagedProcess:
    """One service run as a detached process with a pidfile and a log."""

    def __init__(self, spec: ServiceSpec, state_dir: Path):
        self.spec = spec
        self.state_dir = Path(state_dir)
        self.pidfile = self.state_dir / "run" / f"{spec.name}.pid"
        self.log_path = self.state_dir / "logs" / f"{spec.name}.log"

    @property
    def name(self) -> str:
        return self.spec.name

    # ---------------------------------------------------------------- pidfile
    def _read_pidfile(self) -> _PidInfo | None:
        try:
            raw = self.pidfile.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            return _PidInfo(int(data["pid"]), int(data["pgid"]), data.get("create_time"),
                            list(data.get("argv", [])))
        except (ValueError, KeyError, TypeError):
            try:  # plain "<pid>" pidfile
                pid = int(raw.strip())
                return _PidInfo(pid, pid)
            except ValueError:
                return None

    def _write_pidfile(self, proc: subprocess.Popen) -> None:
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = None
        info = {"pid": proc.pid, "pgid": proc.pid, "create_time": create_time,
                "argv": [str(a) for a in self.spec.argv]}
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pidfile.with_suffix(".pid.tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(self.pidfile)

    @staticmethod
    def _alive(info: _PidInfo) -> bool:
        _reap(info.pid)
        try:
            proc = psutil.Process(info.pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            # a different start time: the pid was reused by another process
            return info.create_time is None or abs(proc.create_time() - info.create_time) <= 1
        except psutil.Error:
            return False

    def pid(self) -> int | None:
        """The pid of the live process, or None."""
        info = self._read_pidfile()
        return info.pid if info is not None and self._alive(info) else None

    def _healthy(self) -> bool:
        try:
            return bool(self.spec.health())
        except Exception:  # noqa: BLE001 - a failing check means "not healthy"
            return False

    # ---------------------------------------------------------------- status
    def status(self) -> ServiceStatus:
        info = self._read_pidfile()
        st = ServiceStatus(self.name, STOPPED, url=self.spec.url, log_path=self.log_path)
        if info is None:
            return st
        if not self._alive(info):
            st.state = STALE
            st.detail = f"pidfile {self.pidfile} names dead pid {info.pid}"
            return st
        st.pid = info.pid
        st.state = RUNNING if self._healthy() else UNHEALTHY
        return st

    @contextlib.contextmanager
    def _locked(self):
        """Serialize start/stop of this service across processes (two `up` at once)."""
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.pidfile.with_suffix(".lock"), "w") as lock:
            try:
                import fcntl
            except ImportError:  # not POSIX: no lock
                yield
                return
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # ---------------------------------------------------------------- start
    def start(self, progress: Progress = print_progress) -> StartResult:
        """Start the service unless it is already running; wait until it is healthy."""
        with self._locked():
            return self._start(progress)

    def _start(self, progress: Progress) -> StartResult:
        t0 = time.monotonic()
        info = self._read_pidfile()
        if info is not None and self._alive(info):
            if self._healthy():
                progress(f"{self.name}: already running (pid {info.pid})")
                return StartResult(self.status(), started=False)
            progress(f"{self.name}: process {info.pid} is up but not healthy yet; waiting")
            self._wait_healthy(None, info.pid, progress, t0)
            return StartResult(self.status(), started=False, seconds=time.monotonic() - t0)
        if info is not None:
            progress(f"{self.name}: removing stale pidfile (pid {info.pid} is gone)")
            self.pidfile.unlink(missing_ok=True)

        for host, port in self.spec.ports:
            if port_in_use(host, port):
                raise ServiceError(
                    self.name,
                    f"cannot start: port {port} on {host} is already in use by another "
                    f"process (not one this stack started)",
                    self.log_path,
                )

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n===== {stamp} starting {self.name} =====\n".encode())
        if self.spec.prepare is not None:
            try:
                self.spec.prepare(self.log_path)
            except ServiceError:
                raise
            except Exception as err:
                raise ServiceError(self.name, f"preparation failed: {err}", self.log_path) from err

        progress(f"{self.name}: starting (log {self.log_path})")
        user_kwargs: dict = {}
        if self.spec.user is not None:
            import pwd

            entry = pwd.getpwnam(self.spec.user)
            user_kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        with open(self.log_path, "ab") as log:
            try:
                proc = subprocess.Popen(
                    [str(a) for a in self.spec.argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.spec.cwd,
                    env=dict(self.spec.env) if self.spec.env is not None else None,
                    start_new_session=True,  # own session and process group
                    close_fds=True,
                    **user_kwargs,
                )
            except OSError as err:
                raise ServiceError(self.name, f"could not execute {self.spec.argv[0]}: {err}",
                                   self.log_path) from err
        _CHILDREN[proc.pid] = proc
        self._write_pidfile(proc)
        try:
            self._wait_healthy(proc, proc.pid, progress, t0)
        except ServiceError:
            self._kill_group(proc.pid, quiet)
            self.pidfile.unlink(missing_ok=True)
            raise
        secs = time.monotonic() - t0
        progress(f"{self.name}: ready in {secs:.1f}s (pid {proc.pid})"
                 + (f" at {self.spec.url}" if self.spec.url else ""))
        return StartResult(self.status(), started=True, seconds=secs)

    def _wait_healthy(self, proc: subprocess.Popen | None, pid: int, progress: Progress,
                      t0: float) -> None:
        deadline = t0 + self.spec.start_timeout
        next_note = time.monotonic() + 3.0
        delay = 0.1
        while True:
            if proc is not None:
                code = proc.poll()
                if code is not None:
                    raise ServiceError(self.name, f"exited with code {code} while starting",
                                       self.log_path)
            elif not self._alive(_PidInfo(pid, pid)):
                raise ServiceError(self.name, f"process {pid} exited while starting",
                                   self.log_path)
            if self._healthy():
                return
            now = time.monotonic()
            if now >= deadline:
                raise ServiceError(
                    self.name,
                    f"not healthy after {self.spec.start_timeout:.0f}s (pid {pid} still alive)",
                    self.log_path,
                )
            if now >= next_note:
                progress(f"{self.name}: waiting for it to answer... ({now - t0:.0f}s)")
                next_note = now + 5.0
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    # ---------------------------------------------------------------- stop
    def stop(self, progress: Progress = print_progress) -> bool:
        """Stop the service; True if a process was stopped."""
        with self._locked():
            return self._stop(progress)

    def _stop(self, progress: Progress) -> bool:
        info = self._read_pidfile()
        if info is None:
            progress(f"{self.name}: not running")
            return False
        if not self._alive(info):
            progress(f"{self.name}: not running (removing stale pidfile)")
            self.pidfile.unlink(missing_ok=True)
            return False
        progress(f"{self.name}: stopping (pid {info.pid})")
        t0 = time.monotonic()
        self._kill_group(info.pgid, progress)
        self.pidfile.unlink(missing_ok=True)
        progress(f"{self.name}: stopped in {time.monotonic() - t0:.1f}s")
        return True

    def _kill_group(self, pgid: int, progress: Progress) -> None:
        _signal_group(pgid, self.spec.stop_signal)
        if _wait_group_gone(pgid, self.spec.stop_timeout):
            return
        progress(f"{self.name}: still alive after {self.spec.stop_timeout:.0f}s; sending SIGKILL")
        _signal_group(pgid, signal.SIGKILL)
        if not _wait_group_gone(pgid, 5.0):
            raise ServiceError(self.name, f"process group {pgid} survived SIGKILL",
                               self.log_path)


def _reap(pid: int) -> None:
    """Collect the exit status of a child of this process, so it is not left a zombie."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg succeeds while zombies are left in the group: look at the members.
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return False


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not _group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
