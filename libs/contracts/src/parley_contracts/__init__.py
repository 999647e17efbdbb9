"""Parley's shared contracts: what crosses a service boundary. Pure pydantic, no I/O."""

from parley_contracts.claims import AccessClaims, Role
from parley_contracts.events import PAYLOAD_OF, EventEnvelope, new_event
from parley_contracts.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem, problem_type
from parley_contracts.topics import (
    ALL_TOPICS,
    CONVERSATIONS,
    MESSAGES,
    NOTIFICATIONS,
    TOPIC_OF,
    USERS,
    EventType,
    dlq,
)

__all__ = [
    "ALL_TOPICS",
    "CONVERSATIONS",
    "MESSAGES",
    "NOTIFICATIONS",
    "PAYLOAD_OF",
    "PROBLEM_MEDIA_TYPE",
    "TOPIC_OF",
    "USERS",
    "AccessClaims",
    "EventEnvelope",
    "EventType",
    "FieldError",
    "Problem",
    "Role",
    "dlq",
    "new_event",
    "problem_type",
]
