"""Debian's headless Chromium, the storefront's real browser here: where it is, how it starts."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium package (scripts/setup installs it)

# Headless as root, with nothing that reaches for the network on its own: on these machines
# Chromium's background connections are refused, many at a time, and slow every start.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
