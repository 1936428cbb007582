"""What the benches share: the PostgreSQL database each run creates and drops, the default
settings, the customer names their workloads are made of, and the small measuring helpers
(free ports, a process's CPU time, percentiles), and the child processes a bench starts.

A bench puts the repository root on ``sys.path`` and imports ``bench._support``.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "raccordo-bench-secret-key-not-for-production"
START_POSTGRES = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    " (or set RACCORDO_BENCH_POSTGRES_URL)"
)


class BenchError(Exception):
    """A failure the bench reports and exits non-zero for."""


# Names repeat as in real data: FIRST_NAMES x LAST_NAMES gives 900 people for any number of customers.
FIRST_NAMES = [
    "Mario",
    "Giulia",
    "Luca",
    "Francesca",
    "Marco",
    "Chiara",
    "Alessandro",
    "Sara",
    "Andrea",
    "Martina",
    "Giovanni",
    "Elena",
    "Matteo",
    "Valentina",
    "Davide",
    "Anna",
    "Paolo",
    "Laura",
    "Stefano",
    "Federica",
    "John",
    "Emily",
    "James",
    "Olivia",
    "Lorenzo",
    "Beatrice",
    "Simone",
    "Alice",
    "Nicolò",
    "Ilaria",
]
LAST_NAMES = [
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Smith",
    "Brown",
    "Taylor",
    "Wilson",
    "Fontana",
    "Caruso",
    "Ferri",
    "Galli",
    "Martini",
    "Leone",
]


@dataclass
class Database:
    backend: str
    url: str
    drop: Callable[[], None] | None


def create_database(backend: str, data_dir: Path, postgres_url: str) -> Database:
    if backend == "sqlite":
        path = data_dir / "raccordo.db"
        if path.exists():
            # Counts are checked against what this run sent: an old database would break them.
            raise BenchError(f"{path} already exists; give --data-dir an empty directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        return Database(backend, f"sqlite:///{path}", None)
    return create_postgres_database(postgres_url)


def create_postgres_database(postgres_url: str) -> Database:
    """A fresh ``raccordo_bench_<random>`` database on the server of ``postgres_url``, dropped by ``drop()``."""
    from sqlalchemy import create_engine, text

    name = f"raccordo_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable server"
        raise BenchError(
            f"PostgreSQL at {postgres_url} is not usable ({type(exc).__name__}: {exc}); {START_POSTGRES}"
        ) from None
    finally:
        admin.dispose()

    def drop() -> None:
        engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()

    return Database("postgresql", postgres_url.rsplit("/", 1)[0] + f"/{name}", drop)


def create_tenant_with_owner(session: Any, run_id: str) -> tuple[Any, Any, str]:
    """A ``bench-<run_id>`` tenant and its owner with an API token, through the services: (tenant, owner, token)."""
    from raccordo.accounts.domain.actor import Actor, system_actor
    from raccordo.accounts.domain.roles import Role
    from raccordo.accounts.services import accounts

    tenant = accounts.create_tenant(session, f"bench-{run_id}", "Bench S.p.A.")
    owner = accounts.create_user(
        session,
        system_actor(tenant.id),
        email=f"owner@bench-{run_id}.example.com",
        name="Bench Owner",
        role="owner",
        password=None,
        language="en",
    )
    _, token = accounts.create_token(session, Actor(tenant.id, owner.id, Role.OWNER), "bench")
    return tenant, owner, token


def add_run_options(parser: Any, *, time_limit_help: str, results_file: str) -> None:
    """--time-limit, --postgres-url and --results-dir, as the ingest and realtime benches take them."""
    parser.add_argument("--time-limit", type=float, default=900.0, help=time_limit_help)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RACCORDO_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL; the bench creates and drops its own database (env RACCORDO_BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=ROOT / "bench" / "results",
        help=f"where {results_file} goes (default bench/results)",
    )


def server_versions(rt: Any) -> dict[str, str]:
    from sqlalchemy import text

    with rt.engine.connect() as connection:
        if rt.engine.dialect.name == "sqlite":
            return {"database": f"SQLite {connection.execute(text('select sqlite_version()')).scalar_one()}"}
        return {"database": str(connection.execute(text("select version()")).scalar_one()).split(" on ")[0]}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def child_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a child server: this one without any RACCORDO_* of the caller, plus the bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACCORDO_")}
    env.update(
        RACCORDO_DATA_DIR=str(data_dir),
        RACCORDO_DATABASE_URL=database_url,
        RACCORDO_SECRET_KEY=SECRET_KEY,
        RACCORDO_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def start_watchdog(parent_pid: int, max_seconds: float) -> None:
    """In a child process: never outlive the bench, stop when the parent is gone or the time budget is spent."""

    def watchdog() -> None:
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline and os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()


class ChildProcess:
    """A bench script run again as a child process (``python <script> <args>``), its output in a log file."""

    def __init__(self, script: Path, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        cmd = [sys.executable, str(script), *args]
        # The child writes to its own copy of the descriptor: the bench's copy closes once it has started.
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu(self) -> float | None:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn and the worker shut down gracefully on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
