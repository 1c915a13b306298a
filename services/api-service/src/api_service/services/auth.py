"""Register, log in and bootstrap the admin: users, password checks and token issue."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from api_service.errors import Conflict, TooManyRequests, Unauthorized
from api_service.models import Role, User
from api_service.services.passwords import hash_password, needs_rehash, verify_password
from api_service.services.ratelimit import LoginLimiter
from api_service.services.tokens import TokenService

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "wrong email or password"


@dataclass(frozen=True)
class Session:
    """A signed-in user and their token."""

    user: User
    token: str


async def register(email: str, password: str, tokens: TokenService) -> Session:
    """Create a user with role "user"; 409 when the email is taken."""
    user = User(email=email, password_hash=await hash_password(password), role=Role.USER)
    try:
        await user.insert()
    except DuplicateKeyError as exc:
        raise Conflict("this email is already registered") from exc
    logger.info("user registered", extra={"user_id": str(user.id)})
    return Session(user, tokens.issue(str(user.id), user.role.value))


async def login(
    email: str, password: str, client_ip: str, tokens: TokenService, limiter: LoginLimiter
) -> Session:
    """Check credentials; one message for every failure; 429 once failures pile up."""
    wait = limiter.retry_after(email, client_ip)
    if wait:
        raise TooManyRequests("too many failed sign-in attempts; try again later", wait)
    user = await User.find_one(User.email == email)
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        limiter.failed(email, client_ip)
        logger.info("login failed", extra={"client_ip": client_ip})
        raise Unauthorized(BAD_CREDENTIALS)
    limiter.succeeded(email)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await user.save()
    return Session(user, tokens.issue(str(user.id), user.role.value))


async def user_for_subject(subject: str) -> User:
    """The user a verified token names; 401 if that user no longer exists."""
    try:
        user_id = PydanticObjectId(subject)
    except (InvalidId, TypeError) as exc:
        raise Unauthorized("invalid token subject") from exc
    user = await User.get(user_id)
    if user is None:
        raise Unauthorized("the account for this token no longer exists")
    return user


async def ensure_admin(email: str, password: str) -> str:
    """Make email an admin with this password unless it already is one; returns what happened.

    An existing non-admin account with that email is promoted and its password replaced, so
    someone who registered the admin's address first does not keep a way in.
    """
    existing = await User.find_one(User.email == email)
    if existing is not None and existing.role == Role.ADMIN:
        return "exists"
    password_hash = await hash_password(password)
    if existing is None:
        try:
            await User(email=email, password_hash=password_hash, role=Role.ADMIN).insert()
        except DuplicateKeyError:
            return await ensure_admin(email, password)
        return "created"
    existing.role = Role.ADMIN
    existing.password_hash = password_hash
    await existing.save()
    return "promoted"
