"""Email addresses: their syntax here, whether a tenant accepts intranet domains in auth.

email-validator (behind pydantic's `EmailStr`) refuses special-use domain names such as
`corp.local` and `qa.test` because mail to them cannot be delivered on the public internet.
Self-hosted companies do deliver mail to them, on their own network. The library's documented
way to accept some of them is to take them out of `email_validator.SPECIAL_USE_DOMAIN_NAMES`,
which it reads on every call; that is done once, when this module is imported (every request
model imports it through `EmailAddress`). The remaining names (`localhost`, `onion`,
`invalid`, `arpa`) are still refused everywhere. Whether an intranet address is welcome is a
rule of auth (a setting and a tenant override), applied with `intranet_domain`.
"""

from typing import Final

import email_validator
from pydantic import EmailStr

INTRANET_DOMAINS: Final = ("local", "internal", "test")
"""Special-use names (RFC 6761 `.test`, RFC 6762 `.local`, ICANN's reserved `.internal`) that
companies use for mailboxes inside their own network."""

for _name in INTRANET_DOMAINS:
    if _name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(_name)

EmailAddress = EmailStr
"""An email address of public or intranet domain (use it for every request field)."""


def intranet_domain(email: str) -> str | None:
    """The intranet name an address's domain falls under (`a@corp.local` → `local`), or None."""
    domain = email.rpartition("@")[2].rstrip(".").lower()
    for name in INTRANET_DOMAINS:
        if domain == name or domain.endswith(f".{name}"):
            return name
    return None
