"""The FastAPI application: routers, error handlers, body limit, health, the in-process delivery loop."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from raccordo import __version__
from raccordo.accounts.api import admin, auth
from raccordo.accounts.pages import admin as accounts_admin_pages
from raccordo.accounts.pages import login as login_pages
from raccordo.accounts.pages import profile as profile_pages
from raccordo.accounts.services import passwords
from raccordo.bootstrap.install import install
from raccordo.bootstrap.worker import WorkerLoop
from raccordo.channels.api import inbox_check
from raccordo.channels.api import inboxes as inboxes_api
from raccordo.channels.api import webhooks as channels
from raccordo.channels.base import Feature
from raccordo.channels.pages import inboxes as inbox_pages
from raccordo.channels.registry import channels as installed_channels
from raccordo.desk.api import agenda as agenda_api
from raccordo.desk.api import composer as composer_api
from raccordo.desk.api import scripts as scripts_api
from raccordo.desk.api import search as search_api
from raccordo.desk.api import side_panel_apps as side_panel_apps_api
from raccordo.desk.api import templates
from raccordo.desk.pages import agenda as agenda_pages
from raccordo.desk.pages import composer as composer_pages
from raccordo.desk.pages import content as content_pages
from raccordo.desk.pages import pages
from raccordo.desk.pages import scripts as script_pages
from raccordo.platform.bus import make_bus
from raccordo.platform.runtime import Runtime
from raccordo.platform.web import errors
from raccordo.platform.web.metrics import Metrics, RequestMetrics
from raccordo.platform.web.middleware import BodySizeLimit
from raccordo.platform.web.pages import error_page
from raccordo.platform.web.schemas import refuse_nul
from raccordo.realtime.api import presence, ws
from raccordo.realtime.hub import Hub
from raccordo.record.api import contacts, conversations, messages
from raccordo.routing.api import routing
from raccordo.routing.pages import admin as admin_pages


def create_app(rt: Runtime, *, run_delivery: bool | None = None) -> FastAPI:
    """The app; it runs the worker in-process unless ``run_delivery`` or RACCORDO_EMBEDDED_WORKER say not to."""
    install()  # every package's tables, the channels, the domain-event subscriptions
    embedded = rt.settings.embedded_worker if run_delivery is None else run_delivery
    passwords.configure(rt.settings)
    loop = WorkerLoop(rt) if embedded else None
    hub = Hub(rt, make_bus(rt.settings.bus_url, rt.settings.bus_subject))
    metrics = Metrics()
    stop_channels: list[Callable[[], Awaitable[None]]] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        if loop:
            loop.start()
        yield
        if loop:
            loop.stop()
        for stop in stop_channels:
            await stop()
        await hub.stop()

    app = FastAPI(
        title="Raccordo",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        # Before any other check of any route: no text with U+0000 reaches a use case.
        dependencies=[Depends(refuse_nul)],
    )
    app.state.runtime = rt
    app.state.hub = hub
    # Committed work (outbox, timers, routing) publishes a wake-up on the bus after the commit;
    # the hub passes it to the embedded worker, so no endpoint has to wake it by hand.
    hub.on_wake = loop.wake if loop else None
    metrics.collector(app.state)
    errors.install(app, html_page=error_page)
    for module in (
        auth,
        admin,
        inboxes_api,
        inbox_check,
        contacts,
        conversations,
        messages,
        channels,
        presence,
        routing,
        ws,
    ):
        app.include_router(module.router)
    app.include_router(templates.router)
    app.include_router(scripts_api.router)
    app.include_router(side_panel_apps_api.router)
    app.include_router(composer_api.router)
    app.include_router(agenda_api.router)
    app.include_router(search_api.router)

    # "/" (the desktop, or the login page), /login, /inbox, /admin/..., /live
    for page_module in (
        login_pages,
        pages,
        admin_pages,
        content_pages,
        script_pages,
        composer_pages,
        profile_pages,
        accounts_admin_pages,
        inbox_pages,
        agenda_pages,
    ):
        app.include_router(page_module.router)
    app.mount("/desktop/static", StaticFiles(directory=pages.STATIC), name="desktop-static")

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "alive", "version": __version__}

    def database_ok() -> str:
        try:
            with rt.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - whatever fails, the database is not ready: say what failed
            return type(exc).__name__
        return "ok"

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Ready when the database answers and the bus reaches the other nodes."""
        database = await run_in_threadpool(database_ok)
        bus = "ok" if hub.bus.healthy else "unreachable"
        ready = database == "ok" and bus == "ok"
        body = {
            "status": "ready" if ready else "not ready",
            "database": database,
            "bus": bus,
            "bus_kind": hub.bus.kind,
            "node": hub.bus.node_id,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        token = rt.settings.metrics_token
        if token:
            scheme, _, sent = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
                return Response(
                    "metrics need the bearer token (RACCORDO_METRICS_TOKEN)\n",
                    status_code=401,
                    media_type="text/plain",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type="text/plain; version=0.0.4")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = errors.document_errors(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodySizeLimit, max_bytes=rt.settings.max_body_bytes)
    # Channels with endpoints of their own (the chat widget) mount them, and their middleware, here.
    for channel in installed_channels():
        if channel.supports(Feature.HTTP):
            stop = channel.install_http(app, hub)
            if stop is not None:
                stop_channels.append(stop)
    app.add_middleware(RequestMetrics, metrics=metrics)
    proxies = [p.strip() for p in rt.settings.trusted_proxies.split(",") if p.strip()]
    if proxies:  # outermost: the scheme and client address are the proxy's forwarded ones from here on
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    return app
