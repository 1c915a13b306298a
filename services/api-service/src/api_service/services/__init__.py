"""Business logic: routes call these; they raise domain errors from api_service.errors."""
