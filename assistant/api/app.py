"""The FastAPI application: API under /api/v1, web pages, health, Prometheus metrics.

``create_app(settings)`` builds nothing heavy at import or construction: the
lifespan builds and loads the services once (``assistant.wiring.build_services``:
the assistant and the helpdesk on one storage, any backend of the storage
Protocols, with models, indexes and the escalation rules), or loads the ones
passed in (tests), and only then puts them on ``app.state``, so ``/readyz`` turns
ready when no request would pay for loading; routes take them through
dependencies (``assistant.api.deps``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assistant.api import access
from assistant.api.deps import SERVICES_KEY
from assistant.api.errors import error_response, install_error_handlers
from assistant.api.observability import AppMetrics
from assistant.api.security import SECURITY_HEADERS
from assistant.core.settings import Settings

if TYPE_CHECKING:
    from assistant.api.artefact_watch import Reload
    from assistant.artefact import Artefact
    from assistant.wiring import Services

log = logging.getLogger("assistant.api")



def create_app(settings: Settings, *, services: Services | None = None, reload: Reload | None = None) -> FastAPI:
    """The whole web application; ``services`` (tests) skips building them from settings.

    Without ``services`` the lifespan loads the current index artefact version
    (``assistant.artefact``: hash-checked, read-only) and watches for the next one;
    ``reload`` (tests) replaces how a new version's services are built from the served ones.
    """

    def default_reload(artefact: Artefact, current: Services) -> Services:
        from assistant.wiring import build_services_from_artefact

        embedder = current.stages.embedder if current.stages is not None else None
        if embedder is not None and embedder.name != artefact.embedder:
            embedder = None  # the new version was embedded by another model: load that one
        return build_services_from_artefact(
            settings, artefact, storage=current.storage, events=current.events, embedder=embedder
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import asyncio

        from assistant.api.artefact_watch import ArtefactWatcher, install
        from assistant.wiring import load_stages

        started = time.perf_counter()
        built = services
        if built is None:
            # the wiring builds and loads every stage of the current artefact version, once
            built = await run_in_threadpool(_build_from_artefact, settings)
        else:
            # services built elsewhere (tests) are loaded too: no request pays for a model
            await run_in_threadpool(load_stages, built.assistant.dialogue)
        if built.events is not None:
            await built.events.start()  # an unreachable live-update backend stops start-up here
        log.info(
            "services built and loaded in %.1fs (artefact %s, live updates %s)",
            time.perf_counter() - started,
            built.artefact.version if built.artefact is not None else "-",
            built.events.name if built.events is not None else "-",
        )
        from assistant.workbench import Workbench

        # the workbench follows every install (start-up, each artefact switch) like the routes do
        app.state.workbench = Workbench(settings, built)
        app.state.on_install.append(app.state.workbench.use_services)
        install(app, built)
        watch: asyncio.Task[None] | None = None
        if built.artefact is not None and settings.artefact.watch_s > 0:
            app.state.artefact_watcher = ArtefactWatcher(
                app, built.artefact.path.parent, settings.artefact.watch_s, reload or default_reload
            )
            watch = asyncio.create_task(app.state.artefact_watcher.run(), name="artefact-watcher")
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
            events = app.state.services.events if app.state.services is not None else None
            if events is not None:
                await events.close()
            app.state.services = None
            app.state.assistant = None
            app.state.helpdesk = None
            app.state.storage = None
            app.state.workbench = None

    production = settings.server.mode == "production"
    app = FastAPI(
        title="Xiao Shen (小申) API",
        version="0.1.0",
        description="Grounded answers about Shanghai government services, with a human helpdesk.",
        lifespan=lifespan,
        # production mode publishes no map of the API: docs, redoc and the schema are off
        docs_url=None if production else "/docs",
        redoc_url=None if production else "/redoc",
        openapi_url=None if production else "/openapi.json",
        # no route runs unless the route table's check (assistant.api.access.enforce) saw it
        dependencies=[Depends(access.checked)],
    )
    app.state.settings = settings
    from assistant.api.ratelimit import RateLimits
    from assistant.wiring import make_rate_limiter

    app.state.limits = RateLimits(
        make_rate_limiter(settings.limits), settings.limits, settings.server.trusted_proxies
    )
    from assistant.api.login_throttle import LoginThrottle

    # failed sign-ins counted on the same limiter (and counter storage) as the message limits
    app.state.login_throttle = LoginThrottle(app.state.limits.limiter, settings.auth)
    app.state.assistant = None
    app.state.helpdesk = None
    app.state.storage = None
    app.state.workbench = None
    app.state.services = None
    app.state.artefact_watcher = None
    #: callables given every Services installed (start-up and each artefact switch)
    app.state.on_install = []
    metrics = AppMetrics(lambda: app.state.helpdesk)
    app.state.registry = metrics.registry
    app.state.metrics = metrics
    install_error_handlers(app)
    # The route table's check is the innermost middleware: a refused request is still
    # counted (_count) and still gets the security headers (_guard).
    app.middleware("http")(access.enforce)

    @app.middleware("http")
    async def _count(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        served = request.scope.get(SERVICES_KEY)
        if served is not None and served.artefact is not None:
            # the knowledge-base version that answered this request (see assistant.artefact)
            response.headers["X-KB-Version"] = served.artefact.version
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        timings = getattr(request.state, "timings_ms", None)
        if timings:
            metrics.observe_turn(timings)
        return response

    max_body = settings.server.max_body_bytes
    # uploaded benchmark files are larger than any message (assistant.workbench.evalruns.MAX_UPLOAD)
    body_caps = {"/api/v1/evaluation/benchmarks": max(max_body, 21 * 1024 * 1024)}
    docs_paths = {p for p in (app.docs_url, app.redoc_url, "/docs/oauth2-redirect") if p and not production}

    @app.middleware("http")
    async def _guard(request: Request, call_next: Any) -> Response:
        # A declared body above the cap is refused before it is read or parsed.
        declared = request.headers.get("content-length", "")
        cap = body_caps.get(request.url.path, max_body)
        if declared.isdigit() and int(declared) > cap:
            response: Response = error_response(
                413,
                "payload_too_large",
                f"the request body has {declared} bytes; the limit is {cap} (server.max_body_bytes)",
            )
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name == "Content-Security-Policy" and request.url.path in docs_paths:
                continue  # FastAPI's Swagger and ReDoc pages are inline scripts (development only)
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            # API answers carry conversations and personal data: no cache may keep them
            response.headers["Cache-Control"] = "no-store"
        return response

    from assistant.api.routes import (
        accounts,
        audit,
        auth,
        chat,
        checkup,
        helpdesk,
        observability,
        pages,
        service_levels,
        workbench,
    )
    from assistant.api.routes import privacy
    from ui import UI_DIR

    app.include_router(auth.router)
    app.include_router(auth.pages)
    app.include_router(accounts.router)
    app.include_router(audit.router)
    app.include_router(chat.router)
    app.include_router(checkup.router)
    app.include_router(helpdesk.router)
    app.include_router(privacy.router)
    app.include_router(service_levels.router)
    app.include_router(observability.router)
    app.include_router(workbench.router)
    app.include_router(workbench.evaluation)
    app.include_router(pages.router)
    from assistant.api.openapi import install_openapi

    # the schema names the route table's tokens and every error body (assistant.api.openapi)
    install_openapi(app)
    assets = {p.name: p for p in UI_DIR.iterdir() if p.suffix in (".js", ".css", ".svg")}

    @app.get("/ui/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        """The pages' scripts and styles (a fixed list: nothing else in the folder is served)."""
        from fastapi.responses import FileResponse

        path = assets.get(name)
        if path is None:
            return error_response(404, "not_found", f"no asset {name!r}")
        return FileResponse(path)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> Response:
        """Ready once the artefact is loaded and the database, the live-update backend and
        the rate-limit counters answer; each is checked on every call, so a worker that
        lost one reports not-ready and turns ready again by itself when it is back."""
        return _readiness(request.app)

    return app


def _readiness(app: FastAPI) -> Response:
    services = app.state.services
    if services is None:
        return error_response(503, "not_ready", "the assistant is still being built")
    checks: dict[str, str] = {}
    failures: list[str] = []
    try:
        services.storage.ping()
        checks["database"] = "ok"
    except Exception as e:  # readiness reports the failure instead of raising it
        checks["database"] = f"unavailable: {e}"
        failures.append(f"the database does not answer: {e}")
    if services.events is not None:
        ok, why = services.events.healthy()
        checks["events"] = "ok" if ok else f"unavailable: {why}"
        if not ok:
            failures.append(f"the live-update backend ({services.events.name}) is unavailable: {why}")
    limits = app.state.limits
    if limits.enabled and not app.state.settings.limits.storage_url.startswith("memory"):
        try:
            reachable = limits.limiter.storage.check()
        except Exception as e:  # a storage that raises is as unreachable as one that says so
            reachable, why = False, str(e)
        else:
            why = "does not answer"
        checks["limits"] = "ok" if reachable else f"unavailable: {why}"
        if not reachable:
            failures.append(f"the rate-limit storage is unavailable: {why}")
    artefact = services.artefact
    watcher = app.state.artefact_watcher
    body: dict[str, object] = {
        "status": "ready" if not failures else "not_ready",
        "items": len(services.assistant.items),
        "artefact": artefact.version if artefact is not None else None,
        "kb_version": artefact.kb_version if artefact is not None else None,
        "checks": checks,
        "time": datetime.now().astimezone().isoformat(),
    }
    if watcher is not None and watcher.failed is not None:
        # still ready: the served version is whole; the failed one is named for the operator
        body["artefact_failed"] = {"version": watcher.failed[0], "error": watcher.failed[1]}
    if failures:
        log.warning("readiness check failed: %s", "; ".join(failures))
        code = "database_unavailable" if checks["database"] != "ok" else "not_ready"
        return JSONResponse({"error": {"code": code, "message": "; ".join(failures)}, **body}, status_code=503)
    return JSONResponse(body)


def _build_from_artefact(settings: Settings) -> Services:
    """The services of the current artefact version, with the configured live-update bus."""
    from assistant.artefact import open_artefact
    from assistant.wiring import build_services_from_artefact, make_event_bus

    artefact = open_artefact(settings.artefact_dir())
    return build_services_from_artefact(settings, artefact, events=make_event_bus(settings))
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``xiaoshen serve --workers N`` (or any ASGI server:
    ``uvicorn --factory assistant.api.app:app_from_environment``): settings from the
    environment and ``XS_CONFIG``, services from the current artefact."""
    from assistant.core.settings import load_settings

    return create_app(load_settings())
