"""Key figures per stage, read from the files each stage writes, by the keys it writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from microshop_ci.core.images import ImagesFileError, read_images


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _tests(junit: Path) -> dict[str, int] | None:
    """passed / failed / skipped from pytest's JUnit XML."""
    try:
        root = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suite = root if root is None or root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return None
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


def _coverage(coverage_xml: Path) -> float | None:
    """Line coverage in percent from coverage.py's XML report."""
    try:
        root = ElementTree.parse(coverage_xml).getroot()
        return None if root is None else round(float(root.get("line-rate", 0)) * 100, 1)
    except (OSError, ElementTree.ParseError, ValueError):
        return None


def checks_figures(report_dir: Path, repo: Path) -> dict[str, Any]:
    """Test counts from the JUnit XML and line coverage from coverage.xml."""
    figures: dict[str, Any] = {}
    if (tests := _tests(report_dir / "checks" / "junit.xml")) is not None:
        figures["tests"] = tests
    if (coverage := _coverage(repo / "reports" / "coverage.xml")) is not None:
        figures["coverage_percent"] = coverage
    return figures


def gates_figures(summary_json: Path) -> dict[str, Any]:
    """Per gate: verdict, non-zero counts by severity, excepted count and note (gates.report)."""
    data = _json(summary_json)
    gates = data.get("gates") if isinstance(data, dict) else None
    if not isinstance(gates, list):
        return {}
    rows = [
        {
            "gate": gate["gate"],
            "verdict": gate["verdict"],
            "by_severity": {k: v for k, v in gate["counts"].items() if v},
            "excepted": len(gate["excepted"]),
            "note": gate["note"],
        }
        for gate in gates
    ]
    return {"gates": rows} if rows else {}


def images_figures(images_json: Path) -> dict[str, Any]:
    """Each image's reference and size, from the images file (core.images)."""
    try:
        records = read_images(images_json)
    except ImagesFileError:
        return {}
    return {"images": {s: {"ref": r.ref, "size": r.size} for s, r in sorted(records.items())}}


def sign_figures(out_dir: Path) -> dict[str, Any]:
    """Per service: SBOM component count, and whether signature and attestation verified."""
    services: dict[str, Any] = {}
    for folder in sorted(p for p in out_dir.glob("*") if p.is_dir()):
        sbom = _json(folder / "sbom.cdx.json")
        verified = _json(folder / "verify.json")
        services[folder.name] = {
            "sbom_components": len(sbom.get("components", [])) if isinstance(sbom, dict) else 0,
            "signature_verified": isinstance(verified, list) and len(verified) > 0,
            "attestation_verified": (folder / "attestation.json").is_file()
            and (folder / "attestation.json").stat().st_size > 0,
        }
    if not services:
        return {}
    parts = [
        f"{name}: SBOM {info['sbom_components']} components, signature "
        f"{'verified' if info['signature_verified'] else 'NOT verified'}, attestation "
        f"{'verified' if info['attestation_verified'] else 'NOT verified'}"
        for name, info in services.items()
    ]
    return {"supply_chain": {"headline": "; ".join(parts), "services": services}}


def _results(target: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in target.get("results", []):
        counts[result.get("result", "?")] = counts.get(result.get("result", "?"), 0) + 1
    return counts


def admission_figures(admission_json: Path) -> dict[str, Any]:
    """Policy results per overlay, and whether the unsigned control image was refused."""
    data = _json(admission_json)
    if not isinstance(data, dict):
        return {}
    overlays = {
        str(o.get("target")): _results(o) for o in data.get("overlays", []) if isinstance(o, dict)
    }
    control = data.get("control")
    refused = isinstance(control, dict) and _results(control).get("fail", 0) > 0
    parts = [
        f"{name}: " + ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))
        for name, counts in overlays.items()
    ]
    parts.append("unsigned control image " + ("refused" if refused else "NOT refused"))
    return {"admission": {"headline": "; ".join(parts), "overlays": overlays, "refused": refused}}


def json_figures(path: Path, key: str) -> dict[str, Any]:
    """A whole small JSON result file under one key."""
    data = _json(path)
    return {key: data} if data is not None else {}


def collect(stage: str, report_dir: Path, repo: Path) -> dict[str, Any]:
    """The figures for one stage, from whatever its scripts wrote."""
    readers = {
        "checks": lambda: checks_figures(report_dir, repo),
        "gates": lambda: gates_figures(report_dir / "gates" / "summary.json"),
        "build": lambda: {
            **images_figures(report_dir / "images.json"),
            **gates_figures(report_dir / "image-gates" / "summary.json"),
        },
        "sign": lambda: sign_figures(report_dir / "supply-chain"),
        "admission": lambda: admission_figures(report_dir / "admission" / "admission.json"),
        "smoke": lambda: json_figures(report_dir / "smoke.json", "smoke"),
    }
    reader = readers.get(stage)
    return reader() if reader else {}
