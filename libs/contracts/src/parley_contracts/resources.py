"""The resources of the public API (API.md): what responses and events carry."""

from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley_contracts.claims import Role
from parley_contracts.emails import EmailAddress
from parley_contracts.validation import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    MIN_PASSWORD_CHARS,
    USERNAME_PATTERN,
    MessageContent,
    Metadata,
    RequestBody,
    Seq,
    Slug,
    Timestamp,
)

T = TypeVar("T")

Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=1024)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Emoji = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\s$.]+$")]
ObjectIdStr = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PageLimit = Annotated[int, Field(ge=1, le=MAX_PAGE_LIMIT)]


class Resource(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


# --- tenants and users -------------------------------------------------------------------------


INTRANET_EMAILS = (
    "whether members may use email addresses under `.local`, `.internal` and `.test` "
    "(self-hosted intranets): true or false; null follows the deployment's "
    "`PARLEY_AUTH_SPECIAL_USE_EMAIL_DOMAINS`"
)


class SignupPolicy(StrEnum):
    OPEN = "open"
    INVITE = "invite"


class Tenant(Resource):
    id: str
    name: str
    slug: Slug
    signup_policy: SignupPolicy = SignupPolicy.OPEN
    special_use_email_domains: bool | None = Field(default=None, description=INTRANET_EMAILS)
    created_at: Timestamp


class User(Resource):
    id: str
    tenant_id: str
    username: str
    email: str
    display_name: str | None = None
    roles: list[Role]
    active: bool = Field(default=True, description="false once a tenant admin deactivated the user")
    created_at: Timestamp


class Tokens(Resource):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="access token lifetime in seconds")


class OwnerSignup(RequestBody):
    username: Username
    email: EmailAddress
    password: Password
    display_name: DisplayName | None = None


class TenantCreate(RequestBody):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    slug: Slug
    owner: OwnerSignup
    signup_policy: SignupPolicy = SignupPolicy.OPEN
    special_use_email_domains: bool | None = Field(default=None, description=INTRANET_EMAILS)


class TenantCreated(Resource):
    tenant: Tenant
    user: User
    tokens: Tokens


class Signup(RequestBody):
    tenant: Slug
    username: Username
    email: EmailAddress
    password: Password
    display_name: DisplayName | None = None


class SignedUp(Resource):
    user: User
    tokens: Tokens


class Login(RequestBody):
    tenant: Slug
    login: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RefreshRequest(RequestBody):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class RolesUpdate(RequestBody):
    roles: Annotated[list[Role], Field(min_length=1, max_length=3)]


# --- conversations -----------------------------------------------------------------------------


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class MemberRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Member(Resource):
    user_id: str
    role: MemberRole
    joined_at: Timestamp


class Message(Resource):
    id: str
    tenant_id: str
    conversation_id: str
    seq: int = Field(ge=1)
    sender_id: str
    content: str
    parent_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    reactions: dict[str, list[str]] = Field(default_factory=dict)
    reply_count: int = 0
    created_at: Timestamp
    edited_at: Timestamp | None = None
    deleted: bool = False
    version: int = Field(default=1, ge=1, description="edit version, grows with every change")
    mentions: list[str] = Field(
        default_factory=list, description="ids of the members @mentioned, resolved at write time"
    )
    edit_count: int = Field(default=0, ge=0, description="how many times the content was edited")
    pinned_at: Timestamp | None = None
    pinned_by: str | None = None


class NotificationLevel(StrEnum):
    ALL = "all"
    MENTIONS = "mentions"
    NONE = "none"


class Conversation(Resource):
    id: str
    tenant_id: str
    kind: ConversationKind
    title: str | None = None
    members: list[Member]
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp
    last_seq: int = 0
    last_message: Message | None = None
    unread_count: int = 0
    unread_mention_count: int = Field(default=0, description="the caller's unread mentions")
    notification_level: NotificationLevel = Field(
        default=NotificationLevel.ALL,
        description="the caller's notification preference for the conversation",
    )


class ReadMarker(Resource):
    conversation_id: str
    user_id: str
    last_read_seq: int = Field(ge=0)
    unread_count: int = Field(ge=0)


class ConversationCreate(RequestBody):
    kind: ConversationKind
    title: Title | None = None
    member_ids: Annotated[list[ObjectIdStr], Field(max_length=1000)] = Field(default_factory=list)


class ConversationUpdate(RequestBody):
    title: Title


class MembersAdd(RequestBody):
    user_ids: Annotated[list[ObjectIdStr], Field(min_length=1, max_length=1000)]


class ReadUpdate(RequestBody):
    seq: Seq


class MessageCreate(RequestBody):
    content: MessageContent
    client_msg_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    parent_id: ObjectIdStr | None = None
    metadata: Metadata = Field(default_factory=dict)


class MessageEdit(RequestBody):
    content: MessageContent


# --- notifications ------------------------------------------------------------------------------


class NotificationKind(StrEnum):
    MENTION = "mention"
    REPLY = "reply"


class Notification(Resource):
    """Something that happened to the user: a mention of them, or a reply to their message."""

    id: str
    kind: NotificationKind
    conversation_id: str
    message_id: str
    seq: int = Field(ge=1)
    actor_id: str = Field(description="who mentioned or replied")
    excerpt: str
    created_at: Timestamp
    read: bool = False


class NotificationLevelUpdate(RequestBody):
    level: NotificationLevel


class NotificationsRead(RequestBody):
    ids: Annotated[list[ObjectIdStr], Field(max_length=1000)] | None = None
    all: bool = False


class UnreadNotifications(Resource):
    unread_count: int = Field(ge=0)


# --- accounts and sessions -----------------------------------------------------------------------


class ProfileUpdate(RequestBody):
    display_name: DisplayName | None = None
    email: EmailAddress | None = None


class PasswordChange(RequestBody):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Password


class Session(Resource):
    """One refresh-token family: a signed-in device."""

    id: str
    created_at: Timestamp
    last_used_at: Timestamp
    user_agent: str | None = None
    ip: str | None = None
    current: bool = False


class SessionList(Resource):
    """The caller's live sessions, newest first."""

    items: list[Session]


# --- edit history ---------------------------------------------------------------------------------


class MessageVersion(Resource):
    """A previous content of an edited message."""

    version: int = Field(ge=1)
    content: str
    edited_at: Timestamp = Field(description="when this content was replaced")


# --- search ------------------------------------------------------------------------------------


class SearchParent(Resource):
    """The thread parent of a reply found by search."""

    id: str
    excerpt: str | None = Field(description="the parent's text; null when it is deleted")


class SearchHit(Resource):
    message: Message
    highlights: list[str] = Field(default_factory=list)
    parent: SearchParent | None = None


class SearchPage(Resource):
    items: list[SearchHit]
    total: int
    total_relation: Literal["eq", "gte"] = Field(
        default="eq", description="`gte`: `total` is a lower bound (more than 10,000 matches)"
    )
    corrected: bool = Field(default=False, description="typo tolerance was needed to match")
    did_you_mean: str | None = None
    next_cursor: str | None = None


# --- pages -------------------------------------------------------------------------------------


class Page(Resource, Generic[T]):
    """A cursor page: pass `next_cursor` back as `cursor` to continue."""

    items: list[T]
    next_cursor: str | None = None


__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "MAX_PAGE_LIMIT",
    "Conversation",
    "ConversationCreate",
    "ConversationKind",
    "ConversationUpdate",
    "Login",
    "Member",
    "MemberRole",
    "MembersAdd",
    "Message",
    "MessageCreate",
    "MessageEdit",
    "MessageVersion",
    "Notification",
    "NotificationKind",
    "NotificationLevel",
    "NotificationLevelUpdate",
    "NotificationsRead",
    "Page",
    "PageLimit",
    "PasswordChange",
    "ProfileUpdate",
    "ReadMarker",
    "ReadUpdate",
    "RefreshRequest",
    "RolesUpdate",
    "SearchHit",
    "SearchPage",
    "SearchParent",
    "Session",
    "SessionList",
    "SignedUp",
    "Signup",
    "SignupPolicy",
    "Tenant",
    "TenantCreate",
    "TenantCreated",
    "Tokens",
    "UnreadNotifications",
    "User",
]
