"""Register/login bodies and the token answer."""

from __future__ import annotations

import re
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from api_service.models import Role, User
from api_service.schemas.base import InputModel, OutputModel, kept_length_pattern


def _any_case(name: str) -> str:
    """A regular expression for name in any letter case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)


# What email-validator refuses although JSON Schema's `format: email` (RFC 5321's Mailbox) allows
# it, published so that clients and generators see it: a quoted local part, a bracketed IP
# address, a domain without a dot or whose top-level label ends in a digit, and the special-use
# domains (RFC 6761: .test, .local, ...), which can never receive mail.
_SPECIAL_USE = "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
EMAIL_PATTERN = rf'^[^@"\s]+@(?![^@]*\.(?:{_SPECIAL_USE})$)[^@\[\]\s]*\.[^@\[\]\s]*[^@\[\]\s.0-9]$'
EMAIL_DESCRIPTION = (
    "An email address at a domain that can receive mail: a dot after the @, no quoted local part,"
    " no IP address, no special-use domain ("
    + ", ".join(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES)
    + "); internationalized addresses are accepted too; stored in lower case"
)


def _mailbox(value: str) -> str:
    """The address in email-validator's normal form, lower-cased; no DNS look-up.

    email-validator directly rather than Pydantic's EmailStr, which also accepts a display name
    (`Ann <ann@example.com>`) that `format: email` does not.
    """
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as err:
        raise ValueError(f"not a valid email address: {err}") from None


Email = Annotated[
    str,
    Field(
        max_length=254,
        description=EMAIL_DESCRIPTION,
        json_schema_extra={"format": "email", "pattern": EMAIL_PATTERN},
    ),
    AfterValidator(_mailbox),
]


class Credentials(InputModel):
    """Email and password, for register and login."""

    email: Email
    password: Annotated[str, Field(min_length=8, max_length=128, pattern=kept_length_pattern(8))]


class UserOut(OutputModel):
    """A user as the API shows it (never the hash)."""

    id: str
    email: str
    role: Role


class TokenOut(OutputModel):
    """A bearer token and who it is for."""

    token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
    user: UserOut


def user_out(user: User) -> UserOut:
    """The response form of a stored user."""
    return UserOut(id=str(user.id), email=user.email, role=user.role)
