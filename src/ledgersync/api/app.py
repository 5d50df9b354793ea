"""`create_app`: the FastAPI application (REST API under /v1, error mapping, scheduler, dashboard mount)."""

from __future__ import annotations

import decimal
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledgersync import ActionError, ConnectionBusy, LedgerSync, PermissionDenied, ProviderError
from ledgersync.api.attachments import ATTACHMENT_UPLOAD
from ledgersync.api.attachments import router as attachment_router
from ledgersync.api.limits import BodyLimit
from ledgersync.api.routes import router, webhook_router
from ledgersync.api.scheduler import Enqueue, Scheduler
from ledgersync.api.settings import ApiSettings
from ledgersync.model import TRANSIENT
from ledgersync.store import LeaseLost, SecretKeyError

log = logging.getLogger(__name__)


def _problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = extra.pop("headers", None)
    return JSONResponse({"detail": detail, **{k: v for k, v in extra.items() if v is not None}}, status, headers)


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure a caller can cause answers with a plain message, never a 500."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": _validation_message(errors), "errors": errors}, 422)

    @app.exception_handler(PermissionDenied)
    async def denied(_: Request, exc: PermissionDenied) -> JSONResponse:
        return _problem(403, str(exc))

    @app.exception_handler(ActionError)
    async def action_error(_: Request, exc: ActionError) -> JSONResponse:
        return _problem(409, str(exc))

    @app.exception_handler(ConnectionBusy)
    async def busy(_: Request, exc: ConnectionBusy) -> JSONResponse:
        return _problem(409, str(exc), headers={"Retry-After": "60"})

    @app.exception_handler(LeaseLost)
    async def lease_lost(_: Request, exc: LeaseLost) -> JSONResponse:
        return _problem(
            409,
            f"Connection {exc.lease.connection_id} was taken over by another worker; nothing was saved, try again.",
            headers={"Retry-After": "60"},
        )

    @app.exception_handler(LookupError)
    async def missing(_: Request, exc: LookupError) -> JSONResponse:
        return _problem(404, str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(ProviderError)
    async def platform(_: Request, exc: ProviderError) -> JSONResponse:
        err = exc.error
        transient = err.code in TRANSIENT
        headers = {"Retry-After": str(int(err.retry_after or 30))} if transient else None
        return _problem(
            503 if transient else 502, err.message, code=err.code.value, hint=err.hint or None, headers=headers
        )

    @app.exception_handler(decimal.InvalidOperation)
    async def bad_number(_: Request, exc: decimal.InvalidOperation) -> JSONResponse:
        # Amounts beyond decimal's precision fail in the model's rounding, which pydantic does not wrap.
        return _problem(422, "invalid request: an amount is out of range")

    @app.exception_handler(DataError)
    async def bad_data(_: Request, exc: DataError) -> JSONResponse:
        return _problem(422, "invalid request: a value does not fit the store")

    @app.exception_handler(IntegrityError)
    async def conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return _problem(409, "conflicts with an existing record")

    @app.exception_handler(SecretKeyError)
    async def keys(_: Request, exc: SecretKeyError) -> JSONResponse:
        # The deployment's keys do not fit its store: the operator's to fix, said plainly, never a traceback.
        log.error("%s", exc)
        return _problem(503, "the server cannot decrypt its stored credentials; its operator has been told")


def create_app(
    ls: LedgerSync,
    *,
    settings: ApiSettings | None = None,
    start_scheduler: bool = False,
    enqueue: Enqueue | None = None,
) -> FastAPI:
    """The whole web process: the REST API under /v1 (OpenAPI at /v1/openapi.json, docs at /v1/docs), the
    dashboard if `ledgersync.web.mount(app, ls)` exists, and with `start_scheduler` the in-process
    scheduler (started and stopped with the app's lifespan).

    With `enqueue` (`ledgersync serve --no-scheduler`: a `ledgersync.worker.client.Enqueuer`), Sync now and
    inbound webhooks' refreshes are handed to the Celery workers instead of running in this process (Sync now
    answers 202 with the task's id).

    `app.state.ledgersync`, `app.state.settings` (incl. `session_secret` for the dashboard's sessions) and
    `app.state.scheduler` are set for the dashboard to use."""
    if settings is None:
        settings = ApiSettings.from_env(ls.store.engine.url.render_as_string(hide_password=False))
    scheduler = Scheduler(ls, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_scheduler:
            scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()

    app = FastAPI(
        title="ledgersync",
        version="1",
        summary="Two-way sync between your app and accounting platforms",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ledgersync = ls
    app.state.settings = settings
    app.state.scheduler = scheduler
    app.state.enqueue = enqueue
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(attachment_router)
    app.include_router(webhook_router(ls))
    try:
        web = importlib.import_module("ledgersync.web")
    except ImportError:  # pragma: no cover - the dashboard ships with the package
        web = None
    mount = getattr(web, "mount", None)
    if callable(mount):
        mount(app, ls)
    # The QuickBooks Web Connector's SOAP service (issue 10): /qbwc, its WSDL at /qbwc?wsdl.
    if "qbd" in ls.providers:
        from ledgersync.providers.qbd.asgi import mount as mount_qbwc

        mount_qbwc(app, ls)
    # Added last, so outermost: bodies are capped before anything reads them, and the client's address and
    # scheme come from X-Forwarded-* only when the request came through a proxy the operator trusts.
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, larger=[(ATTACHMENT_UPLOAD, settings.max_file_bytes)]
    )
    if settings.trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
