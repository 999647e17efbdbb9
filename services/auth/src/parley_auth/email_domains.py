"""Whose members may use intranet email addresses (`.local`, `.internal`, `.test`).

Their syntax is accepted everywhere (`parley_contracts.emails`); whether a tenant welcomes them
is decided here: the tenant's own choice when it made one, else the deployment's
`PARLEY_AUTH_SPECIAL_USE_EMAIL_DOMAINS`.
"""

from parley_contracts.emails import intranet_domain
from parley_contracts.problems import FieldError
from parley_kit.problems import Unprocessable


def intranet_emails_allowed(tenant_choice: bool | None, deployment_default: bool) -> bool:
    return deployment_default if tenant_choice is None else tenant_choice


def check_email_domain(email: str, *, allowed: bool, loc: str) -> None:
    """422 naming `loc` when `email` is an intranet address and those are not allowed."""
    name = intranet_domain(email)
    if name is None or allowed:
        return
    raise Unprocessable(
        f"email addresses under .{name} are not accepted here",
        errors=[
            FieldError(
                loc=loc,
                msg=f"special-use domain .{name} is not accepted by this tenant",
                type="special_use_domain",
            )
        ],
    )
