"""RFC 9457 problem details, the body of every error response."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://parley.dev/problems/"


class FieldError(BaseModel):
    """One invalid field of a request (`loc` is the path to it, e.g. `body.content`)."""

    loc: str
    msg: str
    type: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def problem_type(slug: str) -> str:
    """The `type` URI of a Parley problem, e.g. `problem_type("not-found")`."""
    return f"{PROBLEM_TYPE_BASE}{slug}"
