"""Error responses in the shape each API family's clients expect (SPEC §3, §5).

- Track v1 (``/api/v1``): ``{"meta": {"errors": ["field: message"]}}``
- Track v2 (``/api/v2``) and the App API: ``{"errors": [{"reason", "field", "message"}]}``
- Pipelines (``/v1/identify`` …): ``{"code": "...", "message": "..."}``
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from relata.api.responses import JSONResponse
from relata.core.errors import NotFound, Unauthorized, ValidationError

PIPELINES_PATHS = (
    "/v1/identify",
    "/v1/track",
    "/v1/page",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
    "/v1/batch",
)


def family(path: str) -> str:
    if path.startswith("/api/v1/"):
        return "track_v1"
    if path.startswith("/api/v2/"):
        return "track_v2"
    if path.startswith(PIPELINES_PATHS):
        return "pipelines"
    return "app"


def error_body(path: str, reason: str, field: str, message: str) -> dict[str, Any]:
    kind = family(path)
    if kind == "track_v1":
        return {"meta": {"errors": [f"{field}: {message}" if field else message]}}
    if kind == "pipelines":
        return {"code": reason, "message": f"{field}: {message}" if field else message}
    return {"errors": [{"reason": reason, "field": field, "message": message}]}


def error_response(request: Request, status: int, reason: str, field: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="relata"'} if status == 401 else None
    return JSONResponse(
        error_body(request.url.path, reason, field, message), status_code=status, headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ValidationError)
    async def _invalid(request: Request, exc: ValidationError) -> JSONResponse:
        status = 413 if exc.reason == "too_large" and exc.path == "body" else 400
        return error_response(request, status, exc.reason, exc.path, exc.message)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return error_response(request, 401, "unauthorized", "", str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return error_response(request, 404, "not_found", "", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return error_response(request, 400, "invalid", field, str(first.get("msg")))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return error_response(request, exc.status_code, reason, "", str(exc.detail))
