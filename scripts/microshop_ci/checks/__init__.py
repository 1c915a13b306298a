"""The checks stage: lint, format check, type check, tests with coverage floors (scripts/test)."""
