"""The one finding model: every gate, validator and checker reports its problems as Findings."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Confidence", "Finding", "Severity"]


class Severity(enum.IntEnum):
    """Normalised severity; UNKNOWN is treated as meeting every threshold (fail safe)."""

    UNKNOWN = 0
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str | None) -> Severity:
        """Map a tool's severity word (bandit, trivy, zizmor, OSV) onto the scale."""
        word = (text or "").strip().upper()
        aliases = {"MODERATE": "MEDIUM", "INFORMATIONAL": "INFO", "NOTE": "INFO", "NONE": "INFO"}
        word = aliases.get(word, word)
        return cls.__members__.get(word, cls.UNKNOWN)

    @property
    def label(self) -> str:
        """Lower-case name used in reports and config."""
        return self.name.lower()


class Confidence(enum.IntEnum):
    """A scanner's confidence that a finding is real (bandit, zizmor)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @classmethod
    def parse(cls, text: str | None) -> Confidence | None:
        """Map a tool's confidence word, or None when it gives none."""
        return cls.__members__.get((text or "").strip().upper())


@dataclass(frozen=True)
class Finding:
    """One finding of one gate, whatever tool produced it."""

    gate: str
    rule_id: str
    severity: Severity
    target: str  # package name or repository-relative path the finding is about
    message: str
    path: str  # repository-relative file the finding is located in
    line: int | None = None
    confidence: Confidence | None = None
    aliases: tuple[str, ...] = ()
    fixed_version: str | None = None
    help_uri: str | None = None

    @property
    def location(self) -> str:
        """`path:line` for people."""
        return f"{self.path}:{self.line}" if self.line else self.path
