"""Register, log in and bootstrap the admin: users, password checks and token issue."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from beanie import PydanticObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from api_service.errors import Conflict, PasswordChecksBusy, TooManyRequests, Unauthorized
from api_service.models import Role, User
from api_service.services.passwords import PasswordHashing, needs_rehash
from api_service.services.ratelimit import AuthLimits
from api_service.services.tokens import TokenService

logger = logging.getLogger(__name__)

BAD_CREDENTIALS = "wrong email or password"


@dataclass(frozen=True)
class Session:
    """A signed-in user and their token."""

    user: User
    token: str


@dataclass(frozen=True)
class Gate:
    """What registering and signing in go through: token issue, bounded hashing, the limits."""

    tokens: TokenService
    passwords: PasswordHashing
    limits: AuthLimits


async def register(email: str, password: str, client: str, gate: Gate) -> Session:
    """Create a user with role "user"; 409 when the email is taken, 429 past the client's limit."""
    wait = gate.limits.register.retry_after(client)
    if wait:
        raise TooManyRequests("too many registrations from this address; try again later", wait)
    gate.limits.register.record(client)
    user = User(email=email, password_hash=await gate.passwords.hash(password), role=Role.USER)
    try:
        await user.insert()
    except DuplicateKeyError as exc:
        raise Conflict("this email is already registered") from exc
    logger.info("user registered", extra={"user_id": str(user.id)})
    return Session(user, gate.tokens.issue(str(user.id), user.role.value))


async def login(email: str, password: str, client: str, gate: Gate) -> Session:
    """Check credentials; one message for every failure; 429 while this client must back off."""
    limits, passwords = gate.limits, gate.passwords
    wait = limits.login.retry_after(email, client)
    if wait:
        raise TooManyRequests("too many failed sign-in attempts; try again later", wait)
    limits.login.attempt(email, client)
    try:
        user = await User.find_one(User.email == email)
        valid = await passwords.verify(user.password_hash if user else None, password)
    except BaseException:
        limits.login.take_back(email, client)  # never checked (busy, database away): no failure
        raise
    if not valid or user is None:
        logger.info("login failed", extra={"client_ip": client})
        raise Unauthorized(BAD_CREDENTIALS)
    limits.login.succeeded(email, client)
    if needs_rehash(user.password_hash):
        try:
            user.password_hash = await passwords.hash(password)
        except PasswordChecksBusy:
            logger.info("password rehash deferred: hashing is busy")
        else:
            await user.save()
    return Session(user, gate.tokens.issue(str(user.id), user.role.value))


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


async def ensure_admin(email: str, password: str, passwords: PasswordHashing | None = None) -> str:
    """Make email an admin with this password unless it already is one; returns what happened.

    An existing non-admin account with that email is promoted and its password replaced, so
    someone who registered the admin's address first does not keep a way in. Without a pool
    (a one-off command) the hash runs on a one-thread pool of its own.
    """
    if passwords is None:
        own = PasswordHashing(concurrency=1, queue=0)
        try:
            return await ensure_admin(email, password, own)
        finally:
            own.close()
    existing = await User.find_one(User.email == email)
    if existing is not None and existing.role == Role.ADMIN:
        return "exists"
    password_hash = await passwords.hash(password)
    if existing is None:
        try:
            await User(email=email, password_hash=password_hash, role=Role.ADMIN).insert()
        except DuplicateKeyError:
            return await ensure_admin(email, password, passwords)
        return "created"
    existing.role = Role.ADMIN
    existing.password_hash = password_hash
    await existing.save()
    return "promoted"
