"""What the benches share: the PostgreSQL database each run creates and drops, the default
settings, and the customer names their workloads are made of.

A bench puts the repository root on ``sys.path`` and imports ``bench._support``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
