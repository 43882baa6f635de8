"""Every failure is a JSON error ``{"error": {"code", "message", "request_id"}}``; the service
keeps serving."""

# no ``from __future__ import annotations``: FastAPI reads endpoint annotations at run time
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An answer with an HTTP ``status`` and a JSON body ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    req, status: int, code: str, message: str, headers: dict | None = None
) -> JSONResponse:
    rid = getattr(req.state, "request_id", None)
    return JSONResponse(
        status_code=status,
        headers=headers,
        content={"error": {"code": code, "message": message, "request_id": rid}},
    )


def install_error_handlers(app) -> None:
    """Every failure becomes a JSON error; the service keeps serving."""

    @app.exception_handler(ApiError)
    async def _api_error(req, exc: ApiError):
        return error_response(req, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(req, exc: RequestValidationError):
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors()
        )
        return error_response(req, 422, "invalid_request", msgs or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(req, exc: StarletteHTTPException):
        return error_response(req, exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(req, exc: Exception):  # the client learns why
        return error_response(req, 500, "internal_error", f"{type(exc).__name__}: {exc}"[:500])
