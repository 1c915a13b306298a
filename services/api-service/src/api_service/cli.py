"""`api-service` command line: `create-admin --email E --password-file F`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from beanie import init_beanie
from pydantic import TypeAdapter, ValidationError
from pymongo.errors import PyMongoError

from api_service.bootstrap import bootstrap_admin
from api_service.config import ConfigurationError, Settings, describe_settings_error, get_settings
from api_service.database import new_client, password
from api_service.models import DOCUMENT_MODELS
from api_service.schemas.auth import Email


async def _create_admin(settings: Settings, email: str, password_file: Path) -> str:
    client = new_client(settings, password(settings))
    try:
        await init_beanie(
            database=client[settings.mongodb_database], document_models=DOCUMENT_MODELS
        )
        return await bootstrap_admin(email, password_file, "--password-file")
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command; user mistakes give one line on stderr and a non-zero exit."""
    parser = argparse.ArgumentParser(prog="api-service", description="MicroShop API administration")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-admin", help="create (or promote) an admin account")
    create.add_argument("--email", required=True)
    create.add_argument("--password-file", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        email = TypeAdapter(Email).validate_python(args.email)
    except ValidationError:
        print(f"api-service: --email: {args.email!r} is not a valid email address", file=sys.stderr)
        return 2
    try:
        settings = get_settings()
        outcome = asyncio.run(_create_admin(settings, email, args.password_file))
    except (ValidationError, ConfigurationError) as exc:
        print(f"api-service: {describe_settings_error(exc)}", file=sys.stderr)
        return 2
    except PyMongoError as exc:
        print(f"api-service: database error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"admin {email}: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
