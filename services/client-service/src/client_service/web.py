"""Page rendering and the session: who is signed in, flash messages, and the CSRF token."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from client_service.api_client import ApiClient
from client_service.schemas import AuthResult

PACKAGE_DIR = Path(__file__).resolve().parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
_TOKEN, _EMAIL, _CSRF, _FLASH = "token", "email", "csrf", "flash"

templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")


def format_cents(cents: int | None) -> str:
    """Integer cents as a price: 1999 -> $19.99."""
    if cents is None:
        return "-"
    return f"${cents // 100:,}.{cents % 100:02d}"


templates.env.filters["money"] = format_cents


class CsrfError(Exception):
    """A state-changing request came without the session's CSRF token."""


class SignInRequiredError(Exception):
    """The page needs a signed-in visitor; carries where to come back to."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def csrf_token(request: Request) -> str:
    """The session's synchroniser token, created on first use."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse any non-safe request whose form token does not match the session's."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(_CSRF)
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not (isinstance(expected, str) and expected and isinstance(sent, str)):
        raise CsrfError
    if not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfError


def start_session(request: Request, auth: AuthResult) -> None:
    """Replace the whole session (new CSRF token too) so no pre-sign-in state carries over."""
    request.session.clear()
    request.session[_TOKEN] = auth.token
    request.session[_EMAIL] = auth.user.email
    csrf_token(request)


def end_session(request: Request) -> None:
    """Forget the token and everything else."""
    request.session.clear()


def signed_in_email(request: Request) -> str | None:
    """The email of the signed-in visitor, if any."""
    email = request.session.get(_EMAIL)
    return email if isinstance(email, str) and request.session.get(_TOKEN) else None


def require_token(request: Request) -> str:
    """The API token of the signed-in visitor; otherwise send them to sign in."""
    token = request.session.get(_TOKEN)
    if not isinstance(token, str) or not token:
        raise SignInRequiredError(request.url.path)
    return token


def flash(request: Request, message: str) -> None:
    """Keep a message for the next page shown."""
    request.session[_FLASH] = message


def safe_next(value: str | None) -> str:
    """A local path to return to after signing in (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page with what every page needs: the visitor, the flash message, the CSRF token."""
    values: dict[str, Any] = {
        "user_email": signed_in_email(request),
        "flash": request.session.pop(_FLASH, None),
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
    }
    values.update(context or {})
    return templates.TemplateResponse(request, name, values, status_code=status_code)


def get_api(request: Request) -> ApiClient:
    """The app's API client (opened in the lifespan)."""
    api: ApiClient = request.app.state.api
    return api


Api = Annotated[ApiClient, Depends(get_api)]
Token = Annotated[str, Depends(require_token)]
