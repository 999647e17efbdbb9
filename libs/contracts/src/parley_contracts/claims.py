"""The claims of a Parley access token (a JWT signed by auth, verified with its JWKS)."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    """Tenant-wide roles."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class AccessClaims(BaseModel):
    """What a verified access token says about its holder."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1, description="user id")
    tid: str = Field(min_length=1, description="tenant id")
    roles: tuple[Role, ...] = ()
    av: int = Field(
        default=0,
        ge=0,
        description=(
            "authorization version the token was issued at; a token below the user's current"
            " version predates a role or account change and is refused"
        ),
    )
    sid: str | None = Field(
        default=None,
        description="the session (refresh-token family) the token was issued in; absent in"
        " tokens issued before sessions were listed",
    )
    username: str
    iat: int
    exp: int
    jti: str = Field(min_length=1)
    iss: str
    aud: str | list[str]

    @property
    def user_id(self) -> str:
        return self.sub

    @property
    def tenant_id(self) -> str:
        return self.tid

    def has_role(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_tenant_admin(self) -> bool:
        return self.has_role(Role.OWNER, Role.ADMIN)
