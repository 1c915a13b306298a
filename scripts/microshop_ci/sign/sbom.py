"""Check a CycloneDX SBOM (or a verified cosign attestation of one) against a service's pins.

A good SBOM for a service image lists every direct dependency of the service at the exact
version its pyproject pins, and the image's Debian packages. The attestation check reads the
DSSE envelopes that `cosign verify-attestation` prints and applies the same check to the SBOM
inside the signed in-toto statement, so what is checked is what was signed.
"""

from __future__ import annotations

import base64
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from microshop_ci.core.errors import MicroshopError

CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)")


class SbomError(MicroshopError, ValueError):
    """The SBOM or attestation is missing, malformed or incomplete."""


def canonical(name: str) -> str:
    """Normalise a Python project name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_dependencies(pyproject: Path) -> dict[str, str]:
    """Return {name: version} of the `==` pins in a pyproject's [project].dependencies."""
    project = tomllib.loads(pyproject.read_text()).get("project", {})
    pins: dict[str, str] = {}
    for requirement in project.get("dependencies", []):
        match = _REQ.match(requirement)
        if not match:
            raise SbomError(f"{pyproject}: dependency {requirement!r} is not pinned with ==")
        pins[canonical(match[1])] = match[2]
    return pins


def components(sbom: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Return ({python name: version}, {deb name: version}) from a CycloneDX document."""
    python: dict[str, str] = {}
    debian: dict[str, str] = {}
    for item in sbom.get("components", []):
        purl = str(item.get("purl", ""))
        if purl.startswith("pkg:pypi/"):
            python[canonical(str(item.get("name", "")))] = str(item.get("version", ""))
        elif purl.startswith("pkg:deb/"):
            debian[str(item.get("name", ""))] = str(item.get("version", ""))
    return python, debian


def check(sbom: dict[str, Any], pins: dict[str, str], service: str) -> list[str]:
    """Return the problems of an SBOM for a service (empty when it is complete)."""
    if sbom.get("bomFormat") != "CycloneDX":
        return ["not a CycloneDX document (bomFormat is not CycloneDX)"]
    python, debian = components(sbom)
    problems = [
        f"{name}=={version} is not listed (found: {python.get(name, 'nothing')})"
        for name, version in sorted(pins.items())
        if python.get(name) != version
    ]
    if canonical(service) not in python:
        problems.append(f"the service package {service} itself is not listed")
    if "python3.11-minimal" not in debian or "libc6" not in debian:
        problems.append("the Debian packages (python3.11-minimal, libc6) are not listed")
    return problems


def check_go_binary(sbom: dict[str, Any]) -> list[str]:
    """Problems of an SBOM for an image that is one Go binary (no pyproject: the local database)."""
    if sbom.get("bomFormat") != "CycloneDX":
        return ["not a CycloneDX document (bomFormat is not CycloneDX)"]
    modules = [
        c for c in sbom.get("components", []) if str(c.get("purl", "")).startswith("pkg:golang/")
    ]
    return [] if modules else ["no Go module is listed (pkg:golang components)"]


def predicate_from_attestations(text: str, predicate_type: str) -> dict[str, Any]:
    """The predicate of that type from `cosign verify-attestation` output (DSSE envelopes, one
    JSON object a line), decoded from the signed statement."""
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        envelope = json.loads(line)
        statement = json.loads(base64.b64decode(envelope["payload"]))
        if statement.get("predicateType") == predicate_type:
            predicate: dict[str, Any] = statement["predicate"]
            return predicate
    raise SbomError(f"no attestation with predicate type {predicate_type}")


def sbom_from_attestations(text: str) -> dict[str, Any]:
    """The CycloneDX predicate from `cosign verify-attestation` output."""
    return predicate_from_attestations(text, CYCLONEDX_PREDICATE)


def summary(sbom: dict[str, Any], names: list[str]) -> str:
    """Return 'name==version' for the given Python names, as found in the SBOM."""
    python, debian = components(sbom)
    found = [f"{n}=={python.get(canonical(n), 'MISSING')}" for n in names]
    return f"{', '.join(found)}; {len(python)} Python and {len(debian)} Debian packages"


def check_file(
    kind: str, file: Path, pyproject: Path | None, service: str
) -> tuple[list[str], str]:
    """Problems of an SBOM file (kind "sbom") or of `cosign verify-attestation` output (kind
    "attestation") against the service's pins (no pyproject: one Go binary), and its summary."""
    try:
        text = file.read_text()
        doc = sbom_from_attestations(text) if kind == "attestation" else json.loads(text)
        pins = pinned_dependencies(pyproject) if pyproject else {}
        problems = check(doc, pins, service) if pyproject else check_go_binary(doc)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as err:
        return [str(err)], ""
    return problems, summary(doc, sorted(pins))
