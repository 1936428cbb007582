"""The process-wide objects services need: settings, database, secret box, file store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from raccordo.platform import config_cache, domain_events, events
from raccordo.platform.config import Settings
from raccordo.platform.events import Publisher
from raccordo.platform.files import FileStore
from raccordo.platform.secretbox import SecretBox, attach_to_sessions
from raccordo.platform.store.db import make_engine, make_session_factory


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secretbox: SecretBox
    files: FileStore
    # Set by the process that owns a bus (serve, worker); committed events go to it.
    publisher: Publisher | None = None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.resolved_database_url)
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            secretbox=SecretBox(settings.resolved_secret_key()),
            files=FileStore(settings.attachments_dir),
        )
        attach_to_sessions(runtime.sessions, runtime.secretbox)
        events.install(runtime.sessions, lambda: runtime.publisher)
        config_cache.configure(str(engine.url), settings.config_cache_seconds)
        config_cache.install(runtime.sessions)
        domain_events.install(runtime.sessions)
        return runtime

    def close(self) -> None:
        self.engine.dispose()
