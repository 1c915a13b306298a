"""Unit tests of the supply-chain helpers: dpkg closure, image archive, SBOM checks."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from microshop_ci.build import image_archive
from microshop_ci.build.dpkg import closure, parse_status
from microshop_ci.sign import sbom

STATUS = """\
Package: python3-minimal
Status: install ok installed
Pre-Depends: python3.11-minimal (>= 3.11.2)
Depends: dpkg (>= 1.13.20)

Package: python3.11-minimal
Status: install ok installed
Depends: libc6 (>= 2.36), zlib1g | zlib-ng

Package: libc6
Status: install ok installed

Package: zlib1g
Status: install ok installed
Provides: libz1

Package: dpkg
Status: install ok installed
Depends: tar

Package: tar
Status: install ok installed

Package: removed
Status: deinstall ok config-files
"""


def test_closure_follows_dependencies_and_leaves_excluded_tools_out() -> None:
    packages = parse_status(STATUS)
    assert "removed" not in packages
    assert closure(packages, ["python3-minimal"], ["dpkg"]) == [
        "libc6",
        "python3-minimal",
        "python3.11-minimal",
        "zlib1g",
    ]
    assert "tar" in closure(packages, ["python3-minimal"], [])


def test_closure_fails_on_a_dependency_that_is_not_installed() -> None:
    packages = parse_status(STATUS.replace("Depends: libc6 (>= 2.36)", "Depends: libmissing"))
    with pytest.raises(KeyError, match="no installed package satisfies libmissing"):
        closure(packages, ["python3-minimal"], ["dpkg"])


def test_image_archive_is_a_pure_function_of_layer_and_config(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as archive:
        info = tarfile.TarInfo("etc/hostname")
        archive.addfile(info)
    ids = []
    for name in ("a.tar", "b.tar"):
        config = image_archive.image_config(
            image_archive._sha256(layer),
            1_700_000_000,
            ["PATH=/usr/bin"],
            "65532:65532",
            ["/usr/bin/python3.11"],
            "test",
        )
        ids.append(
            image_archive.write_archive(layer, tmp_path / name, "t:1", config, 1_700_000_000)
        )
    assert ids[0] == ids[1]
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    loaded = json.loads(config)
    assert loaded["created"] == "2023-11-14T22:13:20Z"
    assert loaded["config"]["User"] == "65532:65532"


def cyclonedx(**python: str) -> dict[str, object]:
    """A minimal CycloneDX document with these Python packages and two Debian packages."""
    items = [{"name": n, "version": v, "purl": f"pkg:pypi/{n}@{v}"} for n, v in python.items()]
    items += [
        {"name": "libc6", "version": "2.36", "purl": "pkg:deb/debian/libc6@2.36"},
        {"name": "python3.11-minimal", "version": "3.11.2", "purl": "pkg:deb/debian/p@3.11.2"},
    ]
    return {"bomFormat": "CycloneDX", "components": items}


def test_sbom_check_passes_when_every_pin_is_listed() -> None:
    doc = cyclonedx(fastapi="0.121.2", **{"python_jose": "3.5.0", "api-service": "0.1.0"})
    pins = {"fastapi": "0.121.2", "python-jose": "3.5.0"}
    assert sbom.check(doc, pins, "api-service") == []


def test_sbom_check_names_a_missing_package_and_a_wrong_version() -> None:
    doc = cyclonedx(fastapi="0.121.1", **{"api-service": "0.1.0"})
    problems = sbom.check(doc, {"fastapi": "0.121.2", "beanie": "2.0.0"}, "api-service")
    assert problems == [
        "beanie==2.0.0 is not listed (found: nothing)",
        "fastapi==0.121.2 is not listed (found: 0.121.1)",
    ]


def test_sbom_check_rejects_an_attestation_without_a_cyclonedx_predicate(tmp_path: Path) -> None:
    envelope = {"payload": "eyJwcmVkaWNhdGVUeXBlIjogImh0dHBzOi8vc2xzYS5kZXYvcHJvdmVuYW5jZS92MSJ9"}
    (tmp_path / "att.json").write_text(json.dumps(envelope) + "\n")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["fastapi==0.121.2"]\n')
    problems, _ = sbom.check_file("attestation", tmp_path / "att.json", pyproject, "x")
    assert problems == ["no attestation with predicate type https://cyclonedx.org/bom"]


def test_unpinned_dependency_is_reported(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["fastapi>=0.100"]\n')
    with pytest.raises(sbom.SbomError, match="is not pinned with =="):
        sbom.pinned_dependencies(pyproject)


def test_a_go_binary_sbom_must_list_its_go_modules() -> None:
    go = {"purl": "pkg:golang/github.com/jackc/pgx/v5@v5.7.1", "name": "github.com/jackc/pgx/v5"}
    assert sbom.check_go_binary({"bomFormat": "CycloneDX", "components": [go]}) == []
    assert sbom.check_go_binary({"bomFormat": "CycloneDX", "components": []}) == [
        "no Go module is listed (pkg:golang components)"
    ]
    assert sbom.check_go_binary({"bomFormat": "SPDX"}) == [
        "not a CycloneDX document (bomFormat is not CycloneDX)"
    ]
