"""Sign in, register and sign out; the API's refusals come back on the form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from client_service.errors import ApiRejectedError
from client_service.web import Api, end_session, flash, render, safe_next, start_session

router = APIRouter(tags=["account"])

Email = Annotated[str, Form(max_length=254)]
Password = Annotated[str, Form(max_length=1024)]
Next = Annotated[str, Form(max_length=2048)]


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(
    request: Request, next_path: Annotated[str, Query(alias="next", max_length=2048)] = "/"
) -> HTMLResponse:
    """The sign-in form."""
    return render(request, "signin.html", {"email": "", "next": safe_next(next_path)})


@router.post("/signin", response_model=None)
async def signin(
    request: Request, api: Api, email: Email, password: Password, next_path: Next = "/"
) -> HTMLResponse | RedirectResponse:
    """Exchange the credentials for a token kept in the signed session."""
    try:
        auth = await api.login(email.strip(), password)
    except ApiRejectedError as exc:
        context = {"email": email, "next": safe_next(next_path), "error": exc.message}
        return render(request, "signin.html", context, status_code=exc.status)
    start_session(request, auth)
    flash(request, f"Signed in as {auth.user.email}.")
    return RedirectResponse(safe_next(next_path), status_code=303)


@router.get("/register", response_class=HTMLResponse)
async def register_form(request: Request) -> HTMLResponse:
    """The registration form."""
    return render(request, "register.html", {"email": ""})


@router.post("/register", response_model=None)
async def register(
    request: Request, api: Api, email: Email, password: Password
) -> HTMLResponse | RedirectResponse:
    """Create the account through the API and sign it in."""
    try:
        auth = await api.register(email.strip(), password)
    except ApiRejectedError as exc:
        context = {"email": email, "error": exc.message}
        return render(request, "register.html", context, status_code=exc.status)
    start_session(request, auth)
    flash(request, f"Welcome, {auth.user.email}. Your account is ready.")
    return RedirectResponse("/", status_code=303)


@router.post("/signout")
async def signout(request: Request) -> RedirectResponse:
    """Forget the session."""
    end_session(request)
    return RedirectResponse("/", status_code=303)
