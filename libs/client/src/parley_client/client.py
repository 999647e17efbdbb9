"""`ParleyClient`: every public v1 route of the gateway as a typed async method."""

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from parley_client.errors import Unauthorized, error_for
from parley_client.socket import ParleySocket
from parley_contracts.resources import (
    Conversation,
    Message,
    MessageVersion,
    Notification,
    Page,
    ReadMarker,
    SearchPage,
    Session,
    SessionList,
    SignedUp,
    TenantCreated,
    Tokens,
    UnreadNotifications,
    User,
)

R = TypeVar("R", bound=BaseModel)
_UNSET: Any = object()  # an argument not given (None is a value: it clears the field)


def _segment(value: str) -> str:
    return quote(value, safe="")


class ParleyClient:
    """An API client of one user (or none, before login).

    Signing up, creating a tenant, logging in or refreshing keeps the tokens; a call answered
    `401` is retried once after refreshing when a refresh token is held.

        async with ParleyClient("http://127.0.0.1:8000") as client:
            await client.login("acme", "ada", "correct horse battery")
            conversation = await client.create_conversation("group", [bob_id], title="team")
            await client.send_message(conversation.id, "hello")
    """

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.refresh_token = refresh_token
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- plumbing ---------------------------------------------------------------------------

    def _keep(self, tokens: Tokens) -> Tokens:
        self.access_token, self.refresh_token = tokens.access_token, tokens.refresh_token
        return tokens

    async def raw(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """The bare response of a call (tests check error bodies with it); no raising."""
        sent = dict(headers or {})
        if authenticated and self.access_token and "authorization" not in {k.lower() for k in sent}:
            sent["Authorization"] = f"Bearer {self.access_token}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return await self._http.request(
            method, path, json=json, params=query, headers=sent, content=content
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        response = await self.raw(
            method, path, json=json, params=params, headers=headers, authenticated=authenticated
        )
        if response.status_code == 401 and authenticated and self.refresh_token:
            try:
                await self.refresh()
            except Unauthorized:
                raise error_for(response) from None
            response = await self.raw(method, path, json=json, params=params, headers=headers)
        if response.status_code >= 400:
            raise error_for(response)
        return response

    async def _model(self, model: type[R], method: str, path: str, **kwargs: Any) -> R:
        response = await self._call(method, path, **kwargs)
        return model.model_validate(response.json())

    # --- tenants and auth -------------------------------------------------------------------

    async def create_tenant(
        self,
        name: str,
        slug: str,
        *,
        username: str,
        email: str,
        password: str,
        display_name: str | None = None,
    ) -> TenantCreated:
        owner = {"username": username, "email": email, "password": password}
        if display_name is not None:
            owner["display_name"] = display_name
        created = await self._model(
            TenantCreated,
            "POST",
            "/v1/tenants",
            json={"name": name, "slug": slug, "owner": owner},
            authenticated=False,
        )
        self._keep(created.tokens)
        return created

    async def signup(
        self,
        tenant: str,
        username: str,
        email: str,
        password: str,
        *,
        display_name: str | None = None,
    ) -> SignedUp:
        body = {"tenant": tenant, "username": username, "email": email, "password": password}
        if display_name is not None:
            body["display_name"] = display_name
        signed = await self._model(
            SignedUp, "POST", "/v1/auth/signup", json=body, authenticated=False
        )
        self._keep(signed.tokens)
        return signed

    async def login(self, tenant: str, login: str, password: str) -> Tokens:
        tokens = await self._model(
            Tokens,
            "POST",
            "/v1/auth/login",
            json={"tenant": tenant, "login": login, "password": password},
            authenticated=False,
        )
        return self._keep(tokens)

    async def refresh(self) -> Tokens:
        if not self.refresh_token:
            raise RuntimeError("no refresh token held; log in first")
        response = await self.raw(
            "POST",
            "/v1/auth/refresh",
            json={"refresh_token": self.refresh_token},
            authenticated=False,
        )
        if response.status_code >= 400:
            raise error_for(response)
        return self._keep(Tokens.model_validate(response.json()))

    async def logout(self) -> None:
        if self.refresh_token:
            await self._call(
                "POST",
                "/v1/auth/logout",
                json={"refresh_token": self.refresh_token},
                authenticated=False,
            )
        self.access_token = self.refresh_token = None

    async def me(self) -> User:
        return await self._model(User, "GET", "/v1/auth/me")

    async def list_users(
        self, *, q: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> Page[User]:
        return await self._model(
            Page[User], "GET", "/v1/users", params={"q": q, "cursor": cursor, "limit": limit}
        )

    async def set_roles(self, user_id: str, roles: Sequence[str]) -> User:
        return await self._model(
            User, "PUT", f"/v1/users/{_segment(user_id)}/roles", json={"roles": list(roles)}
        )

    async def jwks(self) -> dict[str, Any]:
        response = await self._call("GET", "/.well-known/jwks.json", authenticated=False)
        keys: dict[str, Any] = response.json()
        return keys

    # --- own account, sessions, deactivation ---------------------------------------------------

    async def update_me(
        self, *, display_name: str | None = _UNSET, email: str | None = _UNSET
    ) -> User:
        """Change the caller's display name (None clears it) and/or email (409 if taken)."""
        body = {
            name: value
            for name, value in (("display_name", display_name), ("email", email))
            if value is not _UNSET
        }
        return await self._model(User, "PATCH", "/v1/auth/me", json=body)

    async def change_password(self, current_password: str, new_password: str) -> None:
        """Every other session of the user ends; this client's tokens keep working."""
        await self._call(
            "POST",
            "/v1/auth/password",
            json={"current_password": current_password, "new_password": new_password},
        )

    async def sessions(self) -> list[Session]:
        return (await self._model(SessionList, "GET", "/v1/auth/sessions")).items

    async def end_session(self, session_id: str) -> None:
        await self._call("DELETE", f"/v1/auth/sessions/{_segment(session_id)}")

    async def deactivate_user(self, user_id: str) -> User:
        return await self._model(User, "POST", f"/v1/users/{_segment(user_id)}/deactivate")

    async def reactivate_user(self, user_id: str) -> User:
        return await self._model(User, "POST", f"/v1/users/{_segment(user_id)}/reactivate")

    # --- conversations ----------------------------------------------------------------------

    async def create_conversation(
        self, kind: str, member_ids: Sequence[str], *, title: str | None = None
    ) -> Conversation:
        body: dict[str, Any] = {"kind": kind, "member_ids": list(member_ids)}
        if title is not None:
            body["title"] = title
        return await self._model(Conversation, "POST", "/v1/conversations", json=body)

    async def list_conversations(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Conversation]:
        return await self._model(
            Page[Conversation],
            "GET",
            "/v1/conversations",
            params={"cursor": cursor, "limit": limit},
        )

    async def get_conversation(self, conversation_id: str) -> Conversation:
        return await self._model(
            Conversation, "GET", f"/v1/conversations/{_segment(conversation_id)}"
        )

    async def rename_conversation(self, conversation_id: str, title: str) -> Conversation:
        return await self._model(
            Conversation,
            "PATCH",
            f"/v1/conversations/{_segment(conversation_id)}",
            json={"title": title},
        )

    async def add_members(self, conversation_id: str, user_ids: Sequence[str]) -> Conversation:
        return await self._model(
            Conversation,
            "POST",
            f"/v1/conversations/{_segment(conversation_id)}/members",
            json={"user_ids": list(user_ids)},
        )

    async def remove_member(self, conversation_id: str, user_id: str) -> None:
        await self._call(
            "DELETE",
            f"/v1/conversations/{_segment(conversation_id)}/members/{_segment(user_id)}",
        )

    async def mark_read(self, conversation_id: str, seq: int) -> ReadMarker:
        return await self._model(
            ReadMarker,
            "POST",
            f"/v1/conversations/{_segment(conversation_id)}/read",
            json={"seq": seq},
        )

    # --- messages ---------------------------------------------------------------------------

    def _messages(self, conversation_id: str) -> str:
        return f"/v1/conversations/{_segment(conversation_id)}/messages"

    async def send_message(
        self,
        conversation_id: str,
        content: str,
        *,
        client_msg_id: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        body: dict[str, Any] = {"content": content}
        if client_msg_id is not None:
            body["client_msg_id"] = client_msg_id
        if parent_id is not None:
            body["parent_id"] = parent_id
        if metadata is not None:
            body["metadata"] = metadata
        return await self._model(Message, "POST", self._messages(conversation_id), json=body)

    async def list_messages(
        self,
        conversation_id: str,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Message]:
        """Newest first; with `after_seq`, oldest first (the gap-fill form)."""
        return await self._model(
            Page[Message],
            "GET",
            self._messages(conversation_id),
            params={
                "before_seq": before_seq,
                "after_seq": after_seq,
                "limit": limit,
                "cursor": cursor,
            },
        )

    async def get_message(self, conversation_id: str, message_id: str) -> Message:
        return await self._model(
            Message, "GET", f"{self._messages(conversation_id)}/{_segment(message_id)}"
        )

    async def replies(
        self,
        conversation_id: str,
        message_id: str,
        *,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Message]:
        return await self._model(
            Page[Message],
            "GET",
            f"{self._messages(conversation_id)}/{_segment(message_id)}/replies",
            params={"cursor": cursor, "limit": limit},
        )

    async def edit_message(self, conversation_id: str, message_id: str, content: str) -> Message:
        return await self._model(
            Message,
            "PATCH",
            f"{self._messages(conversation_id)}/{_segment(message_id)}",
            json={"content": content},
        )

    async def delete_message(self, conversation_id: str, message_id: str) -> None:
        await self._call("DELETE", f"{self._messages(conversation_id)}/{_segment(message_id)}")

    async def react(self, conversation_id: str, message_id: str, emoji: str) -> Message:
        return await self._model(
            Message,
            "PUT",
            f"{self._messages(conversation_id)}/{_segment(message_id)}/reactions/{_segment(emoji)}",
        )

    async def unreact(self, conversation_id: str, message_id: str, emoji: str) -> Message:
        return await self._model(
            Message,
            "DELETE",
            f"{self._messages(conversation_id)}/{_segment(message_id)}/reactions/{_segment(emoji)}",
        )

    # --- edit history and pins --------------------------------------------------------------

    async def message_edits(self, conversation_id: str, message_id: str) -> list[MessageVersion]:
        """Previous versions of a message, oldest first (none for a deleted message)."""
        response = await self._call(
            "GET", f"{self._messages(conversation_id)}/{_segment(message_id)}/edits"
        )
        return [MessageVersion.model_validate(item) for item in response.json()["items"]]

    async def pin_message(self, conversation_id: str, message_id: str) -> Message:
        return await self._model(
            Message, "PUT", f"{self._messages(conversation_id)}/{_segment(message_id)}/pin"
        )

    async def unpin_message(self, conversation_id: str, message_id: str) -> Message:
        return await self._model(
            Message, "DELETE", f"{self._messages(conversation_id)}/{_segment(message_id)}/pin"
        )

    async def pins(self, conversation_id: str) -> list[Message]:
        """The pinned messages of a conversation, most recently pinned first."""
        response = await self._call("GET", f"/v1/conversations/{_segment(conversation_id)}/pins")
        return [Message.model_validate(item) for item in response.json()["items"]]

    # --- mentions and notifications ---------------------------------------------------------

    async def notifications(
        self, *, cursor: str | None = None, limit: int | None = None, unread: bool = False
    ) -> Page[Notification]:
        """The caller's mentions and replies to their messages, newest first."""
        return await self._model(
            Page[Notification],
            "GET",
            "/v1/me/notifications",
            params={"cursor": cursor, "limit": limit, "unread": "true" if unread else None},
        )

    async def mark_notifications_read(
        self, ids: Sequence[str] | None = None, *, everything: bool = False
    ) -> int:
        """Mark these notifications (or, with `everything`, all) read; the unread count after."""
        body: dict[str, Any] = {"all": True} if everything else {"ids": list(ids or [])}
        read = await self._model(
            UnreadNotifications, "POST", "/v1/me/notifications/read", json=body
        )
        return read.unread_count

    async def set_notification_level(self, conversation_id: str, level: str) -> Conversation:
        """`all`, `mentions` or `none`: the caller's notifications from one conversation."""
        return await self._model(
            Conversation,
            "PUT",
            f"/v1/conversations/{_segment(conversation_id)}/notifications",
            json={"level": level},
        )

    # --- search -----------------------------------------------------------------------------

    async def search(
        self,
        q: str,
        *,
        conversation_id: str | None = None,
        sender_id: str | None = None,
        after: str | None = None,
        before: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> SearchPage:
        """Search the caller's conversations. `q` takes words, `"phrases"`, `-exclusions` and
        operators (`from:`, `in:`, `mentions:`, `before:`/`after:`/`during:`, `has:link`,
        `has:reaction`, `is:thread`). The page has `total` with `total_relation` (`gte`
        beyond 10,000), `corrected` (typo-tolerant hits shown), `did_you_mean`, and per hit
        `highlights` and `parent` (a thread reply's parent id and excerpt)."""
        return await self._model(
            SearchPage,
            "GET",
            "/v1/search/messages",
            params={
                "q": q,
                "conversation_id": conversation_id,
                "sender_id": sender_id,
                "after": after,
                "before": before,
                "cursor": cursor,
                "limit": limit,
            },
        )

    # --- real time --------------------------------------------------------------------------

    def socket(self) -> ParleySocket:
        """A Socket.IO connection for the current access token (call `connect()` on it)."""
        if not self.access_token:
            raise RuntimeError("log in before opening a socket")
        return ParleySocket(self.base_url, self.access_token)
