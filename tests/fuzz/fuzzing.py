"""Fuzzing the public API with schemathesis: every operation of the gateway's OpenAPI document,
driven with generated requests, each answer judged by the error contract of API.md.

The contract: no answer is a 5xx (a 503 with `Retry-After` is a refusal under load, so the same
request is sent again once after it; a second 503 counts), and every error answer is an RFC
9457 problem document (`application/problem+json` whose `status` is the response's). Failures
are collected, not raised, so Hypothesis never shrinks and a run takes a bounded time; each
comes with a curl line that reproduces it.
"""

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from e2e_suite import ProcessSuite
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.schemas import APIOperation

PROBLEM = "application/problem+json"
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Finding:
    operation: str
    status: int | None
    what: str
    reproducer: str

    def __str__(self) -> str:
        return f"{self.operation} -> {self.status}: {self.what}\n    {self.reproducer}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    by_operation: dict[str, dict[int, int]] = field(default_factory=dict)
    broken_operations: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return f"{self.requests} requests ({counts}); {len(self.findings)} findings"


def header(response: Response, name: str) -> str:
    values = response.headers.get(name.lower()) or [""]
    return values[0]


def contract_breach(response: Response) -> str | None:
    """What the answer breaks in the error contract, or None."""
    if response.status_code >= 500:
        return f"a {response.status_code}: {response.text[:300]}"
    if response.status_code < 400:
        return None
    media_type = header(response, "content-type").split(";")[0].strip()
    if media_type != PROBLEM:
        return (
            f"an error as {media_type or 'no content type'}, not {PROBLEM}: {response.text[:200]}"
        )
    try:
        body = response.json()
    except ValueError:
        return f"a problem document that is not JSON: {response.text[:200]}"
    if not isinstance(body, dict) or body.get("status") != response.status_code:
        return f"a problem document whose status is not {response.status_code}: {body!r:.200}"
    if not body.get("title"):
        return "a problem document without a title"
    return None


class Fuzzer:
    """Sends generated requests to `base_url` as a signed-in user, and judges the answers.

    `log_in` returns a fresh access token; it is called before each operation, so a long run
    outlives any one token. `known_path_parameters` are ids of real resources of that user.
    `seed` None makes the run the same every time (the bounded run of `make test`)."""

    def __init__(
        self,
        schema: Any,
        base_url: str,
        *,
        log_in: Callable[[], str],
        known_path_parameters: Mapping[str, str],
        max_examples: int,
        seed: int | None,
    ) -> None:
        self.schema = schema
        self.base_url = base_url.rstrip("/")
        self.log_in = log_in
        self.token = ""
        self.known = dict(known_path_parameters)
        self.max_examples = max_examples
        self.seed = seed
        self.session = requests.Session()  # kept-alive connections, as a real client keeps them
        self.report = Report()

    @classmethod
    def from_document(cls, document: dict[str, Any], base_url: str, **options: Any) -> "Fuzzer":
        return cls(schemathesis.openapi.from_dict(document), base_url, **options)

    def operations(self) -> list[APIOperation]:
        found = []
        for result in self.schema.get_all_operations():
            try:
                found.append(result.ok())
            except Exception as exc:  # an operation schemathesis cannot read
                self.report.broken_operations[repr(result)] = repr(exc)
        return found

    def strategy(self, operation: APIOperation) -> st.SearchStrategy[Case]:
        """Valid and invalid requests with generated path parameters, and the same with the
        ids of real resources, so that generated bodies and queries reach the services."""
        names = {p.name for p in operation.path_parameters}
        real = {name: self.known[name] for name in names if name in self.known}
        strategies = [
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        ]
        if real:
            strategies += [
                operation.as_strategy(
                    generation_mode=GenerationMode.POSITIVE, path_parameters=real
                ),
                operation.as_strategy(
                    generation_mode=GenerationMode.NEGATIVE, path_parameters=real
                ),
            ]
        return st.one_of(strategies)

    def call(self, case: Case) -> Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = case.call(
            base_url=self.base_url, session=self.session, headers=headers, timeout=REQUEST_TIMEOUT
        )
        self.report.requests += 1
        retry_after = header(response, "retry-after")
        if response.status_code == 503 and retry_after.isdigit():
            # A refusal under load is allowed once: the same request again after the wait.
            time.sleep(min(int(retry_after), 2))
            response = case.call(
                base_url=self.base_url,
                session=self.session,
                headers=headers,
                timeout=REQUEST_TIMEOUT,
            )
            self.report.requests += 1
        return response

    def judge(self, operation: APIOperation, case: Case) -> None:
        label = f"{operation.method.upper()} {operation.path}"
        try:
            response = self.call(case)
        except requests.RequestException as exc:
            self.report.findings.append(
                Finding(label, None, f"no answer: {exc!r:.200}", case.as_curl_command())
            )
            return
        status = response.status_code
        self.report.statuses[status] = self.report.statuses.get(status, 0) + 1
        counts = self.report.by_operation.setdefault(label, {})
        counts[status] = counts.get(status, 0) + 1
        breach = contract_breach(response)
        if breach is not None:
            self.report.findings.append(
                Finding(label, status, breach, case.as_curl_command({"Authorization": "Bearer …"}))
            )

    def fuzz(self, operation: APIOperation) -> None:
        @settings(
            max_examples=self.max_examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=self.seed is None,
        )
        @given(case=self.strategy(operation))
        def run(case: Case) -> None:
            self.judge(operation, case)

        if self.seed is not None:
            run = hypothesis_seed(self.seed)(run)
        label = f"{operation.method.upper()} {operation.path}"
        self.token = self.log_in()
        try:
            run()
        except Exception as exc:  # generation failed: reported, the other operations go on
            self.report.broken_operations[label] = repr(exc)[:300]

    def run(self) -> Report:
        for operation in self.operations():
            self.fuzz(operation)
        return self.report


# Bounds a fuzzer would exhaust from one address (each stays on; tests of them live elsewhere).
GENEROUS_BOUNDS = {
    "auth": {
        "TENANT_CREATION_PER_IP_PER_HOUR": "1000000",
        "SIGNUPS_PER_IP": "1000000",
        "LOGIN_FAILURES_PER_IP": "1000000",
        "LOGIN_FAILURES_PER_LOGIN": "1000000",
        "LOGIN_FAILURES_PER_ACCOUNT": "1000000",
    },
    "gateway": {
        "USER_RATE_PER_SECOND": "100000",
        "USER_BURST": "100000",
        "IP_RATE_PER_SECOND": "100000",
        "IP_BURST": "100000",
    },
}
PASSWORD = "correct horse battery"


class FuzzedSuite(ProcessSuite):
    def environment(self, service: str) -> dict[str, str]:
        prefix = f"PARLEY_{service.upper()}_"
        extra = GENEROUS_BOUNDS.get(service, {})
        return super().environment(service) | {prefix + k: v for k, v in extra.items()}


@dataclass(frozen=True)
class FuzzTarget:
    """A tenant whose owner the fuzzer acts as, with a conversation, a message and a member."""

    gateway: str
    tenant: str
    owner: str
    known_path_parameters: dict[str, str]

    def log_in(self) -> str:
        response = httpx.post(
            f"{self.gateway}/v1/auth/login",
            json={"tenant": self.tenant, "login": self.owner, "password": PASSWORD},
            timeout=30,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


def make_target(gateway: str) -> FuzzTarget:
    """Create the tenant, member, conversation and message the fuzzer works with."""
    slug = f"z{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=gateway, timeout=30) as http:
        created = http.post(
            "/v1/tenants",
            json={
                "name": "Fuzzed",
                "slug": slug,
                "owner": {
                    "username": "ada",
                    "email": f"ada@{slug}.example.com",
                    "password": PASSWORD,
                },
            },
        )
        created.raise_for_status()
        auth = {"Authorization": f"Bearer {created.json()['tokens']['access_token']}"}
        bob = http.post(
            "/v1/auth/signup",
            json={
                "tenant": slug,
                "username": "bob",
                "email": f"bob@{slug}.example.com",
                "password": PASSWORD,
            },
        )
        bob.raise_for_status()
        bob_id = bob.json()["user"]["id"]
        conversation = http.post(
            "/v1/conversations",
            json={"kind": "group", "title": "fuzzed", "member_ids": [bob_id]},
            headers=auth,
        )
        conversation.raise_for_status()
        conversation_id = conversation.json()["id"]
        message = http.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"content": "hello <b>fuzz</b>", "metadata": {"k": [1, {"n": None}]}},
            headers=auth,
        )
        message.raise_for_status()
    return FuzzTarget(
        gateway,
        slug,
        "ada",
        {
            "conversation_id": conversation_id,
            "message_id": message.json()["id"],
            "user_id": bob_id,
            "emoji": "👍",
        },
    )
