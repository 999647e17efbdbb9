"""The text rule at the door of every service: no control characters in a path or a query.

Bodies are checked by `RequestBody` (see `parley_contracts.validation`); paths and query
strings by this middleware, before routing, so a route with a plain `str` parameter is
covered as well as one with a strict type.
"""

import re
from typing import Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from parley_contracts.problems import FieldError
from parley_contracts.validation import printable, text_problem
from parley_kit.problems import Unprocessable, problem_response

# A control byte in a query string, raw or percent-encoded: the cheap test before parsing.
_QUERY_CONTROL: Final = re.compile(rb"%[01][0-9a-fA-F]|%7[fF]|[\x00-\x1f\x7f]")


def unsafe_target_part(scope: Scope) -> FieldError | None:
    """The first part of the request target that breaks the text rule: a path with any control
    character, a query parameter name with one, or a value with one other than tab, CR or LF.
    (Lone surrogates cannot arrive in a URL: invalid UTF-8 decodes as U+FFFD.)"""
    problem = text_problem(scope.get("path", ""), multiline=False)
    if problem is not None:
        return FieldError(loc="path", msg=problem, type="unsafe_input")
    query: bytes = scope.get("query_string", b"")
    if not _QUERY_CONTROL.search(query):
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        problem = text_problem(name, multiline=False) or text_problem(value)
        if problem is not None:
            return FieldError(loc=f"query.{printable(name)}", msg=problem, type="unsafe_input")
    return None


class PrintableTarget:
    """Answer 422, naming the part, for a request whose path or query breaks the text rule.
    Such text is never an id, a cursor or a search term; refused here, it reaches no store,
    no log line and no other service's URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = unsafe_target_part(scope)
        if error is None:
            await self.app(scope, receive, send)
            return
        problem = Unprocessable(f"{error.loc}: {error.msg}", errors=[error])
        await problem_response(problem.problem(printable(scope.get("path", ""))))(
            scope, receive, send
        )
