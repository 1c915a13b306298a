"""Domain errors raised by the API client and turned into pages by one set of handlers."""

from __future__ import annotations


class ApiError(Exception):
    """An API call did not give the answer the storefront needs."""

    def __init__(
        self, status: int, message: str, code: str = "error", request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class ApiUnavailableError(ApiError):
    """The API could not be reached or timed out (shown as 503)."""


class ApiBadGatewayError(ApiError):
    """The API answered with a server error or an unreadable body (shown as 502)."""


class ApiRejectedError(ApiError):
    """The API refused the request (4xx); its message is meant for the visitor."""


class BadInputError(ApiRejectedError):
    """400 or 422: the API found the input invalid."""


class UnauthorizedError(ApiRejectedError):
    """401: wrong credentials, or the session's token is no longer valid."""


class ForbiddenError(ApiRejectedError):
    """403: signed in but not allowed."""


class NotFoundError(ApiRejectedError):
    """404: no such product (or a malformed id)."""


class ConflictError(ApiRejectedError):
    """409: email already taken, or not enough stock."""


class RateLimitedError(ApiRejectedError):
    """429: too many failed sign-ins."""


REJECTIONS: dict[int, type[ApiRejectedError]] = {
    400: BadInputError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: BadInputError,
    429: RateLimitedError,
}
