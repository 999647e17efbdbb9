"""The last resort for an error that nothing else handled: a complete 500 problem, and a
connection that still serves the next request."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley_kit.logs import get_logger
from parley_kit.problems import ProblemError, problem_response

log = get_logger(__name__)


class UnexpectedErrors:
    """Answer an error no handler took with a 500 problem, and keep the connection open.

    Starlette's outermost error middleware answers such an error and then raises it again for
    the server to log; uvicorn then closes the kept-alive connection, and whoever reuses it
    next (the gateway's pool, a browser) meets a dead connection. Caught here, inside that
    middleware, the error ends as a complete answer and the connection serves the next
    request. Only an answer that has already started cannot be repaired: the error goes on
    and the server closes the connection, the one honest end of a half-sent response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            log.error("unhandled error", path=scope.get("path"), exc_info=exc)
            error = ProblemError("an unexpected error occurred; it has been logged")
            await problem_response(error.problem(scope.get("path")))(scope, receive, send)
