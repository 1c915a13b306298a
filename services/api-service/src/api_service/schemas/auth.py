"""Register/login bodies and the token answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field

from api_service.models import Role, User
from api_service.schemas.base import InputModel, OutputModel

Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(str.lower)]


class Credentials(InputModel):
    """Email and password, for register and login."""

    email: Email
    password: Annotated[str, Field(min_length=8, max_length=128)]


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
