"""Errors mapped to HTTP once, here: every error body is ``{"error": {"code", "message"}}``.

- XiaoShenError subclasses carry their own ``code`` and ``http_status``.
- A body that is not JSON gets 400 ``malformed_json``; a body of the wrong
  shape 422 ``invalid_request`` naming the fields.
- Rate limits answer 429 ``rate_limited`` with ``Retry-After`` (seconds).
- Unknown routes and methods keep their 404/405 with the same body shape.
- Anything unexpected is logged with its traceback server-side and answered
  with 500 ``internal_error`` and no traceback.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.api.ratelimit import RateLimited
from assistant.api.security import SECURITY_HEADERS
from assistant.core.errors import XiaoShenError

log = logging.getLogger("assistant.api")


def error_response(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body shape."""
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}}, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""

    @app.exception_handler(XiaoShenError)
    async def _xiaoshen(_request: Request, exc: XiaoShenError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("%s: %s", exc.code, exc)
        return error_response(exc.http_status, exc.code, str(exc))

    @app.exception_handler(RateLimited)
    async def _limited(_request: Request, exc: RateLimited) -> JSONResponse:
        return error_response(429, exc.code, str(exc), headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON; send a JSON object")
        parts = []
        for e in errors:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", incident, request.method, request.url.path)
        # This handler runs outside the app's middleware, so it sets the headers itself.
        return error_response(
            500,
            "internal_error",
            f"internal error (incident {incident}); the details are in the server log",
            headers=dict(SECURITY_HEADERS),
        )
