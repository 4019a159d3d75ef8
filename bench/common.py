"""Shared benchmark helpers: PostgreSQL, a fresh database, the engine as a live Uvicorn
subprocess, the scripted LLM, percentiles and the event-loop lag probe.

Everything listens on 127.0.0.1 (or a unix socket) and is cleaned up on the way out, also
when a benchmark fails or is interrupted (SIGINT/SIGTERM cancel the main task).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
# BENCH_ENGINE_SRC: measure another checkout's engine (before/after figures of a fix), in
# the engine processes and wherever a benchmark imports the engine itself.
ENGINE_SRC = os.environ.get("BENCH_ENGINE_SRC") or str(REPO / "src")
for _path in (str(REPO), ENGINE_SRC):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.lagprobe import LoopLagProbe, percentile  # noqa: E402

__all__ = [
    "ADMIN_PASSWORD",
    "BenchOrg",
    "Figure",
    "EngineProcess",
    "LoopLagProbe",
    "RemoteLLM",
    "Stats",
    "engine_process",
    "fresh_database",
    "percentile",
    "postgres",
    "run",
    "scripted_llm",
]

T = TypeVar("T")

ADMIN_PASSWORD = "bench-admin-password-1"
USER_PASSWORD = "bench-user-password-1"
API = "/api/v1"
ENGINE_START_TIMEOUT = 90.0
ENGINE_STOP_TIMEOUT = 20.0


# --- numbers ----------------------------------------------------------------------------


@dataclass
class Stats:
    """Latencies (ms) of one kind of operation, and how long the whole run took (s)."""

    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    errors: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def p(self, pct: float) -> float:
        return percentile(self.latencies_ms, pct)

    def merge(self, other: Stats) -> None:
        self.latencies_ms.extend(other.latencies_ms)
        self.elapsed_s += other.elapsed_s
        self.errors += other.errors

    def describe(self) -> str:
        return (
            f"n={self.count} rate={self.rate:,.0f}/s p50={self.p(50):.2f} ms "
            f"p99={self.p(99):.2f} ms errors={self.errors}"
        )


async def keep_session(conn: asyncpg.Connection) -> None:
    """asyncpg pool `reset` hook that sends nothing (asyncpg still rolls back an open
    transaction itself); the default sends a reset query on every release."""


def median(values: Sequence[float]) -> float:
    return percentile(list(values), 50)


Operation = Callable[[int], Awaitable[Any]]


async def timed_loop(operation: Operation, *, concurrency: int, duration: float) -> Stats:
    """`concurrency` workers call `operation(worker)` back to back for `duration` seconds."""
    stats = Stats()
    deadline = time.perf_counter() + duration

    async def worker(index: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await operation(index)
            except Exception:
                stats.errors += 1
                continue
            stats.latencies_ms.append((time.perf_counter() - started) * 1000.0)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    stats.elapsed_s = time.perf_counter() - started
    return stats


# --- CPU accounting -----------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


async def postmaster_pid(dsn: str) -> int | None:
    """The PostgreSQL server's pid when it runs on this machine (embedded), else None."""
    conn = await asyncpg.connect(dsn)
    try:
        data_dir = await conn.fetchval("SHOW data_directory")
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()
    try:
        return int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class CpuSnapshot:
    engine: float
    postgres: float
    bench: float
    wall: float


class CpuMeter:
    """CPU seconds used by the engine, PostgreSQL (all its processes) and this process."""

    def __init__(self, engine_pid: int | None, postmaster: int | None) -> None:
        self.engine_pid = engine_pid
        self.postmaster = postmaster
        self._seen: dict[int, float] = {}

    def _postgres_s(self) -> float:
        if self.postmaster is None:
            return 0.0
        # Backends come and go: remember the last reading of each, so an exited one counts.
        for pid in [self.postmaster, *_children(self.postmaster)]:
            self._seen[pid] = process_cpu_s(pid) or self._seen.get(pid, 0.0)
        return sum(self._seen.values())

    def snapshot(self) -> CpuSnapshot:
        return CpuSnapshot(
            engine=process_cpu_s(self.engine_pid) if self.engine_pid else 0.0,
            postgres=self._postgres_s(),
            bench=time.process_time(),
            wall=time.perf_counter(),
        )

    @staticmethod
    def per_op_ms(before: CpuSnapshot, after: CpuSnapshot, ops: int) -> dict[str, float]:
        ops = max(ops, 1)
        return {
            "engine": (after.engine - before.engine) * 1000 / ops,
            "postgres": (after.postgres - before.postgres) * 1000 / ops,
            "bench": (after.bench - before.bench) * 1000 / ops,
        }


# --- running a benchmark ----------------------------------------------------------------


def run(main: Callable[[], Awaitable[T]]) -> T:
    """asyncio.run with uvloop when available; SIGTERM cancels the main task like Ctrl-C,
    so every `async with` below it gets to clean up."""

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await main()

    try:
        import uvloop
    except ImportError:
        return asyncio.run(guarded())
    return uvloop.run(guarded())


# --- PostgreSQL ---------------------------------------------------------------------------


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@contextlib.contextmanager
def _pgserver(workdir: Path) -> Iterator[str]:
    import pgserver

    server = pgserver.get_server(workdir / "pg", cleanup_mode="delete")
    try:
        yield f"postgresql://postgres@/postgres?host={(workdir / 'pg').resolve()}"
    finally:
        server.cleanup()


@contextlib.asynccontextmanager
async def postgres() -> AsyncIterator[str]:
    """An admin DSN: BENCH_DATABASE_URL when set, else a private embedded PostgreSQL
    (pgserver) in a temporary folder, stopped and deleted afterwards."""
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="rugpt-bench-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # pgserver runs postgres as an unprivileged user under root
        stack = contextlib.ExitStack()
        dsn = await asyncio.to_thread(stack.enter_context, _pgserver(workdir))
        try:
            yield dsn
        finally:
            await asyncio.to_thread(stack.close)


@contextlib.asynccontextmanager
async def fresh_database(admin_dsn: str, prefix: str = "rugpt_bench") -> AsyncIterator[str]:
    """A new empty database for one run; dropped (with its connections) afterwards."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _with_database(admin_dsn, name)
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


# --- the scripted LLM ---------------------------------------------------------------------


class RemoteLLM:
    """The test suite's ScriptedLLM (Ollama + OpenAI APIs) on 127.0.0.1 in a process of its
    own, so serving the model's answers is charged neither to the benchmark's event loop
    nor to its CPU. Scripting goes over a pipe: replies must be `Reply` values (no
    callables); `asked_at()` gives the `time.perf_counter()` (CLOCK_MONOTONIC, the same in
    every process) at which each chat request was answered."""

    def __init__(self, conn: Any, process: Any, port: int) -> None:
        self._conn, self._process, self.port = conn, process, port

    @property
    def ollama_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._conn.send((name, args, kwargs))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"scripted LLM: {name}: {value}")
        return value

    def set_default(self, reply: Any) -> None:
        self._call("set_default", reply)

    def queue(self, *replies: Any) -> None:
        self._call("queue", *replies)

    def add_rule(self, match: str, *replies: Any, repeat: bool = False) -> None:
        self._call("add_rule", match, *replies, repeat=repeat)

    def reset(self) -> None:
        self._call("reset")

    def asked_at(self) -> list[float]:
        return list(self._call("asked"))

    @property
    def requests(self) -> list[Any]:
        return list(self._call("requests"))

    @property
    def max_in_flight(self) -> int:
        return int(self._call("max_in_flight"))

    @property
    def sent_pieces(self) -> list[tuple[float, bytes]]:
        return list(self._call("sent_pieces"))


def _llm_child(conn: Any) -> None:
    """The scripted LLM's process: serve, and answer scripting calls from the pipe."""
    with contextlib.suppress(KeyboardInterrupt):
        run(lambda: _serve_llm(conn))


async def _serve_llm(conn: Any) -> None:
    from tests.fakes.llm_server import ScriptedLLM

    class TimedLLM(ScriptedLLM):
        asked: list[float]

        def _choose(self, messages: Any) -> Any:
            self.asked.append(time.perf_counter())
            return super()._choose(messages)

    async with TimedLLM() as llm:
        llm.asked = []
        conn.send(llm.port)
        while True:
            message = await asyncio.to_thread(conn.recv)
            if message is None:
                return
            name, args, kwargs = message
            try:
                value = getattr(llm, name)
                if callable(value):
                    value = value(*args, **kwargs)
                elif isinstance(value, list):
                    value = list(value)
                conn.send((True, value))
            except Exception as exc:
                conn.send((False, repr(exc)))


@contextlib.asynccontextmanager
async def child_process(
    target: Callable[..., None], args: tuple[Any, ...], name: str
) -> AsyncIterator[tuple[Any, Any]]:
    """`target(conn, *args)` in a spawned process: yields (its pipe end, the process) once it
    sent its first message (what it listens on), and on the way out sends None, waits 10 s
    for it to stop, then kills it."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args), daemon=True, name=name)
    process.start()
    try:
        if not await asyncio.to_thread(parent.poll, 60):
            raise TimeoutError(f"{name} did not start in 60 s")
        yield parent, process
    finally:
        with contextlib.suppress(OSError):
            parent.send(None)
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)


@contextlib.asynccontextmanager
async def scripted_llm() -> AsyncIterator[RemoteLLM]:
    """The scripted LLM in its own process (`RemoteLLM`), stopped on the way out."""
    async with child_process(_llm_child, (), "scripted-llm") as (conn, process):
        yield RemoteLLM(conn, process, int(conn.recv()))


# --- the engine ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """preexec_fn: the engine gets SIGTERM if the benchmark process dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (0.0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


@dataclass
class EngineProcess:
    """A live engine: one Uvicorn worker process on 127.0.0.1:`port`."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    started_at: float  # perf_counter() just before the process was spawned
    ready_s: float = 0.0  # seconds from spawn to the first healthy /health
    rss_after_start_mb: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    @property
    def log_path(self) -> Path:
        return self.workdir / "engine.log"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_healthy(self, timeout: float = ENGINE_START_TIMEOUT) -> float:
        deadline = time.perf_counter() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"engine exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{API}/health")).status_code == 200:
                        return time.perf_counter() - self.started_at
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"engine not healthy in {timeout} s:\n{self.log_tail()}")
                await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, ENGINE_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)


def engine_env(database_url: str, llm_base_url: str, **overrides: Any) -> dict[str, str]:
    """The engine's environment: production settings, loopback only, fast bcrypt for set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "LLM_"))}
    paths = [ENGINE_SRC, str(REPO)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONUNBUFFERED": "1",
            "ENVIRONMENT": "production",
            "HOST": "127.0.0.1",
            "DATABASE_URL": database_url,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "ADMIN_USERNAME": "admin",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "BCRYPT_ROUNDS": "4",  # set-up logins only; no request measured here hashes
            "LLM_PROVIDER": "ollama",
            "LLM_BASE_URL": llm_base_url,
            "LLM_MODEL": "qwen2.5:7b",
            "LLM_HEALTH_TIMEOUT_SECONDS": "2",
            "LOGIN_MAX_FAILURES_PER_IP": "100000",
            "ACCESS_TOKEN_TTL_SECONDS": "86400",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    # BENCH_ENGINE_ENV="EVENTS_RELAY_ENABLED=false,LOG_LEVEL=WARNING": experiments on settings
    for item in filter(None, os.environ.get("BENCH_ENGINE_ENV", "").split(",")):
        key, _, value = item.partition("=")
        env[key.strip().upper()] = value.strip()
    return env


@contextlib.asynccontextmanager
async def engine_process(
    database_url: str,
    llm_base_url: str,
    *,
    lag_probe: bool = False,
    gc_probe: bool = False,
    command: Sequence[str] | None = None,
    **settings: Any,
) -> AsyncIterator[EngineProcess]:
    """Start the engine (`rugpt serve` via bench.serve_engine) and wait for /health 200.

    `settings` become environment variables (`llm_max_concurrency=8` -> LLM_MAX_CONCURRENCY).
    The working folder is a temporary one, so no `.env` of the checkout leaks in.
    """
    env = engine_env(database_url, llm_base_url, **settings)
    env["PORT"] = env["UVICORN_PORT"] = str(free_port())  # rugpt serve / uvicorn CLI
    if lag_probe:
        env["BENCH_LAG_PROBE"] = "1"
    if gc_probe:
        env["BENCH_GC_PROBE"] = "1"
    argv = list(command or [sys.executable, "-m", "bench.serve_engine"])
    with tempfile.TemporaryDirectory(prefix="rugpt-engine-") as tmp:
        workdir = Path(tmp)
        with open(workdir / "engine.log", "wb") as log:
            started = time.perf_counter()
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        engine = EngineProcess(process, int(env["PORT"]), workdir, started)
        try:
            engine.ready_s = await engine.wait_healthy()
            engine.rss_after_start_mb = engine.rss_mb()
            yield engine
        finally:
            await engine.stop()


# --- data through the public API ------------------------------------------------------------


@dataclass
class BenchUser:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class BenchOrg:
    id: str
    slug: str
    admin: BenchUser
    members: list[BenchUser]


async def _login(client: httpx.AsyncClient, login: str, password: str, org: str) -> BenchUser:
    response = await client.post(
        f"{API}/auth/login", json={"login": login, "password": password, "organization": org}
    )
    response.raise_for_status()
    data = response.json()
    return BenchUser(data["user"]["id"], data["user"]["username"], data["access_token"])


async def create_org(client: httpx.AsyncClient, members: int) -> BenchOrg:
    """An organization with its admin and `members` users, all logged in."""
    root = await _login(client, "admin", ADMIN_PASSWORD, "system")
    slug = f"bench-{secrets.token_hex(4)}"
    response = await client.post(
        f"{API}/organizations",
        headers=root.headers,
        json={
            "slug": slug,
            "name": f"Bench {slug}",
            "admin": {"username": "boss", "password": USER_PASSWORD, "email": "boss@example.com"},
        },
    )
    response.raise_for_status()
    org_id = response.json()["id"]
    admin = await _login(client, "boss", USER_PASSWORD, slug)
    users: list[BenchUser] = []
    for index in range(members):
        username = f"user{index + 1}"
        created = await client.post(
            f"{API}/users",
            headers=admin.headers,
            json={"username": username, "password": USER_PASSWORD},
        )
        created.raise_for_status()
        users.append(await _login(client, username, USER_PASSWORD, slug))
    return BenchOrg(org_id, slug, admin, users)


async def create_chat(
    client: httpx.AsyncClient, owner: BenchUser, *others: BenchUser, title: str = "bench"
) -> str:
    response = await client.post(
        f"{API}/chats",
        headers=owner.headers,
        json={"kind": "group", "title": title, "member_ids": [u.id for u in others]},
    )
    response.raise_for_status()
    return str(response.json()["id"])


class LeanTransport(httpx.AsyncBaseTransport):
    """A minimal HTTP/1.1 keep-alive transport for `httpx.AsyncClient`: one connection,
    one request at a time, Content-Length or chunked bodies, read whole.

    Why: httpx's default transport (httpcore + anyio + h11) costs ~0.5 ms of CPU per
    request here, several times what a bare Uvicorn app costs to answer it. On a 2-core
    machine that load-generator cost would be charged to the engine. With this transport
    the client costs ~0.15-0.2 ms per request; requests and responses are still httpx's.
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._exchange(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.aclose()
            raise httpx.TransportError(f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            await self.aclose()
            raise httpx.TimeoutException("no response in time") from exc

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        async with self._lock, asyncio.timeout(self.timeout):
            body = await request.aread()
            lines = [f"{request.method} {request.url.raw_path.decode('ascii')} HTTP/1.1"]
            lines += [
                f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in request.headers.raw
            ]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                assert self._reader is not None and self._writer is not None
                try:
                    self._writer.write(head + body)
                    raw_head = await self._reader.readuntil(b"\r\n\r\n")
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    await self.aclose()
                    if attempt == 2:
                        raise
            status_line, *header_lines = raw_head[:-4].decode("latin-1").split("\r\n")
            headers = [tuple(h.split(":", 1)) for h in header_lines]
            pairs = [(k.strip(), v.strip()) for k, v in headers]
            lowered = {k.lower(): v for k, v in pairs}
            if lowered.get("transfer-encoding", "").lower() == "chunked":
                content = await self._read_chunked()
                pairs = [(k, v) for k, v in pairs if k.lower() != "transfer-encoding"]
            else:
                content = await self._reader.readexactly(int(lowered.get("content-length", "0")))
            if lowered.get("connection", "").lower() == "close":
                await self.aclose()
            return httpx.Response(
                int(status_line.split(" ", 2)[1]), headers=pairs, content=content, request=request
            )

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def aclose(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def client_for(
    engine: EngineProcess, connections: int, timeout: float = 30.0, *, lean: bool = False
) -> httpx.AsyncClient:
    """An httpx client of the engine: httpx's own pool of `connections`, or with
    `lean=True` one connection through `LeanTransport`."""
    if lean:
        transport = LeanTransport("127.0.0.1", engine.port, timeout)
        return httpx.AsyncClient(base_url=engine.base_url, timeout=timeout, transport=transport)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=engine.base_url, timeout=timeout, limits=limits)


@contextlib.asynccontextmanager
async def clients_for(
    engine: EngineProcess, count: int, timeout: float = 30.0, *, lean: bool = False
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` independent clients with one keep-alive connection each: N users on N
    connections. (One shared httpx pool costs the *client* O(connections) per request.)"""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(client_for(engine, 1, timeout, lean=lean))
            for _ in range(count)
        ]


class ChatWatcher:
    """Follows a chat's Server-Sent Events; `finished(id)` resolves when that AI answer is
    stored (`message.updated` with status done or failed), with the time it arrived."""

    def __init__(self, engine: EngineProcess, user: BenchUser, chat_id: str) -> None:
        self.url = f"{engine.base_url}{API}/chats/{chat_id}/events"
        self.user = user
        self._finished: dict[int, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def _future(self, message_id: int) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        future = self._finished.get(message_id)
        if future is None:
            future = self._finished[message_id] = asyncio.get_running_loop().create_future()
        return future

    async def finished(
        self, message_id: int, timeout: float = 60.0
    ) -> tuple[float, dict[str, Any]]:
        try:
            async with asyncio.timeout(timeout):
                return await self._future(message_id)
        finally:
            self._finished.pop(message_id, None)

    async def _follow(self) -> None:
        import json

        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None)) as client,
            client.stream("GET", self.url, headers=self.user.headers) as response,
        ):
            response.raise_for_status()
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    arrived = time.perf_counter()
                    if kind == "ready" and self._ready and not self._ready.done():
                        self._ready.set_result(None)
                    elif kind == "message.updated":
                        data = json.loads(line[5:])
                        if data.get("ai_status") in ("done", "failed"):
                            future = self._future(int(data["id"]))
                            if not future.done():
                                future.set_result((arrived, data))

    async def __aenter__(self) -> ChatWatcher:
        self._ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._follow())
        done, _ = await asyncio.wait(
            {self._ready, self._task}, timeout=30, return_when="FIRST_COMPLETED"
        )
        if self._task in done:
            self._task.result()
            raise RuntimeError("event stream ended before it was ready")
        if not done:
            raise TimeoutError("event stream not ready in 30 s")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


# --- output -------------------------------------------------------------------------------


def print_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A Markdown table (also readable in a terminal); printed and returned."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    text = "\n".join(
        [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        + [line(r) for r in rows]
    )
    print(text, flush=True)
    return text


@dataclass
class Figure:
    """One line of a benchmark's result: what, how much, the target, and whether it is met."""

    bench: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "-"}[self.met]


def print_figures(figures: Sequence[Figure]) -> str:
    rows = [(f.bench, f.name, f.value, f.target, f.verdict) for f in figures]
    return print_table(rows, ("bench", "figure", "value", "target", "verdict"))


def command_line() -> str:
    return " ".join(["python", *(a if " " not in a else repr(a) for a in sys.argv)])
