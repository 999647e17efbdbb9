"""Errors as RFC 9457 problem details: the exceptions services raise and the handlers that
render them. Nothing ever leaves as a bare 500 with a stack trace."""

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley_contracts.cursors import InvalidInput
from parley_contracts.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem, problem_type
from parley_contracts.validation import printable
from parley_kit.logs import get_logger

log = get_logger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
    500: "internal",
    502: "bad-gateway",
    503: "unavailable",
    504: "timeout",
}


class ProblemError(Exception):
    """Raise anywhere below an endpoint to answer with a problem document."""

    status = 500

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or "")
        if status is not None:
            self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(self.status, "Error")
        self.errors = errors
        self.headers = headers or {}

    def problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=problem_type(_SLUGS.get(self.status, "error")),
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, detail: str = "missing, invalid or expired access token") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


class PayloadTooLarge(ProblemError):
    status = 413


class Unprocessable(ProblemError):
    status = 422


class TooManyRequests(ProblemError):
    status = 429

    def __init__(self, retry_after: int, detail: str = "rate limit exceeded") -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(ProblemError):
    status = 503

    def __init__(self, detail: str = "a dependency is unavailable", retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ProblemJSONResponse(JSONResponse):
    """A problem document as ASCII JSON: whatever a detail quotes back from a request (a lone
    surrogate included) can be encoded."""

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return ProblemJSONResponse(problem.body(), status_code=problem.status, headers=headers)


def field_errors(errors: Any) -> list[FieldError]:
    """Pydantic/FastAPI error dicts as `FieldError`s with dotted locations; a check of a whole
    body that names the part at fault (`ctx.at`, see `RequestBody`) extends the location."""
    result = []
    for error in errors:
        parts = [printable(str(part)) for part in error.get("loc", ())]
        at = (error.get("ctx") or {}).get("at")
        if at:
            parts.append(str(at))
        result.append(
            FieldError(
                loc=".".join(parts), msg=str(error.get("msg", "")), type=str(error.get("type", ""))
            )
        )
    return result


def _validation_problem(errors: Any, instance: str) -> JSONResponse:
    return problem_response(
        Unprocessable("the request is not valid", errors=field_errors(errors)).problem(instance)
    )


MAX_TIME_EXPIRED = 50


def _interrupted_by_deadline(exc: PyMongoError) -> bool:
    """FerretDB reports a query stopped by its `maxTimeMS` as a generic `OperationFailure`
    (code 1, "handleMaxTimeMSError ... interrupted") where MongoDB says `MaxTimeMSExpired`."""
    if not isinstance(exc, OperationFailure):
        return False
    message = str(exc)
    return exc.code == MAX_TIME_EXPIRED or "MaxTimeMS" in message or "interrupted" in message


def dependency_unavailable(exc: Exception, retry_after: int) -> ServiceUnavailable | None:
    """The 503 for a store or cache that timed out (the request's deadline ran out, see
    `parley_kit.deadlines`) or cannot be reached; None for any other error."""
    if isinstance(exc, PyMongoError) and (
        exc.timeout or isinstance(exc, ConnectionFailure) or _interrupted_by_deadline(exc)
    ):
        return ServiceUnavailable(
            "the document store did not answer within the request's deadline; retry shortly",
            retry_after=retry_after,
        )
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return ServiceUnavailable("the cache did not answer in time", retry_after=retry_after)
    return None


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error of `app` as problem details."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.problem(request.url.path), exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        return _validation_problem(exc.errors(), request.url.path)

    async def on_invalid_input(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidInput)
        error = FieldError(loc=exc.loc, msg=exc.msg, type=exc.type)
        return problem_response(Unprocessable(exc.msg, errors=[error]).problem(request.url.path))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error = ProblemError(str(exc.detail) if exc.detail else None, status=exc.status_code)
        return problem_response(error.problem(request.url.path), dict(exc.headers or {}))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, exc_info=exc)
        return problem_response(
            ProblemError("an unexpected error occurred; it has been logged").problem(
                request.url.path
            )
        )

    async def on_dependency(request: Request, exc: Exception) -> JSONResponse:
        settings = getattr(request.app.state, "settings", None)
        unavailable = dependency_unavailable(exc, getattr(settings, "retry_after_seconds", 1))
        if unavailable is None:
            return await on_unexpected(request, exc)
        log.warning("dependency unavailable", path=request.url.path, error=repr(exc))
        return problem_response(unavailable.problem(request.url.path), unavailable.headers)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(InvalidInput, on_invalid_input)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(PyMongoError, on_dependency)
    app.add_exception_handler(RedisError, on_dependency)
    app.add_exception_handler(Exception, on_unexpected)
