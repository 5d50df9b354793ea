"""The /qbwc mount: POST is the Web Connector's SOAP endpoint, GET /qbwc?wsdl its description."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ledgersync.providers.qbd.service import ServiceSettings, WebConnectorService

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ledgersync.engine.app import LedgerSync

PATH = "/qbwc"


def mount(app: FastAPI, ls: LedgerSync, settings: ServiceSettings | None = None) -> WebConnectorService:
    """Add the Web Connector's routes to `app` (the service waits in a worker thread, never on the loop)."""
    service = WebConnectorService(ls, settings)
    app.state.qbwc = service

    async def soap(request: Request) -> Response:
        body = await request.body()
        status, xml = await run_in_threadpool(service.handle, body)
        return Response(xml, status_code=status, media_type="text/xml; charset=utf-8")

    async def describe(request: Request) -> Response:
        if "wsdl" not in {k.lower() for k in request.query_params}:
            return PlainTextResponse(
                "ledgersync's QuickBooks Web Connector service: add the .qwc file from the Integrations page to "
                "your Web Connector. Its WSDL is at ?wsdl."
            )
        url = str(request.url.replace(query=""))
        return Response(service.wsdl(url), media_type="text/xml; charset=utf-8")

    app.add_api_route(PATH, soap, methods=["POST"], include_in_schema=False)
    app.add_api_route(PATH, describe, methods=["GET"], include_in_schema=False)
    return service


__all__ = ["PATH", "mount"]
