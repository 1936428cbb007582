"""The sandbox's HTTP app (one router per provider module) and running it, blocking or in a thread."""

from __future__ import annotations

import importlib
import pkgutil
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

import raccordo.sandbox


def create_app() -> FastAPI:
    """Every provider module of the package (one that defines ``ROUTER``) mounted on one app."""
    app = FastAPI(title="Raccordo provider sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    for info in pkgutil.iter_modules(raccordo.sandbox.__path__):
        module = importlib.import_module(f"{raccordo.sandbox.__name__}.{info.name}")
        router = getattr(module, "ROUTER", None)
        if router is not None:
            app.include_router(router)
    return app


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Run until interrupted (``raccordo sandbox``)."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@dataclass
class Running:
    """A sandbox started in a thread (tests, ``raccordo demo``): its address and how to stop it."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start(port: int = 0, host: str = "127.0.0.1", timeout: float = 15.0) -> Running:
    """Start the sandbox in a daemon thread and return once it accepts connections."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(create_app(), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start on {host}:{port}")
        time.sleep(0.02)
    return Running(server, thread, f"http://{host}:{port}")
