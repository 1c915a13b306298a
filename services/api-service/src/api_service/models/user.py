"""The users collection: unique email, argon2 password hash, role."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from beanie import Document, Indexed
from pydantic import Field

from api_service.clock import utc_now


class Role(StrEnum):
    """What a user may do: shop, or also manage the catalogue."""

    USER = "user"
    ADMIN = "admin"


class User(Document):
    """A registered account; the email is stored lower-cased and is unique."""

    email: Annotated[str, Indexed(unique=True)]
    password_hash: str
    role: Role = Role.USER
    created_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "users"
