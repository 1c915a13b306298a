"""verify-release over a stand-in cosign: the identity it pins, the provenance it checks, the
assets it writes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.sign import provenance, release
from microshop_ci.sign.cli import SignError

DIGEST = "sha256:" + "cd" * 32
REF = f"ghcr.io/acme/api-service@{DIGEST}"
IDENTITY = "https://github.com/acme/microshop/.github/workflows/release.yml@refs/tags/v1.2.3"
ISSUER = "https://token.actions.githubusercontent.com"
RECORDER = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["CALLS"], "a") as calls:
    calls.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if "slsaprovenance1" in sys.argv:
    print(open(os.environ["PROVENANCE"]).read())
else:
    print('{"verified": "%s"}' % sys.argv[1])
"""
RUN = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/microshop",
    "GITHUB_REF": "refs/tags/v1.2.3",
    "GITHUB_SHA": "ab" * 20,
    "GITHUB_WORKFLOW_REF": "acme/microshop/.github/workflows/release.yml@refs/tags/v1.2.3",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_RUN_ID": "9",
    "GITHUB_RUN_ATTEMPT": "1",
}


def envelope(predicate: dict[str, Any]) -> str:
    """One line of `cosign verify-attestation` output holding this SLSA predicate."""
    statement = {"predicateType": provenance.PREDICATE_TYPE, "predicate": predicate}
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": payload})


@pytest.fixture
def release_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A release job's environment with a cosign that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cosign").write_text(RECORDER)
    (bin_dir / "cosign").chmod(0o755)
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "provenance.jsonl").write_text(envelope(provenance.predicate(RUN)))
    monkeypatch.setenv("PROVENANCE", str(tmp_path / "provenance.jsonl"))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.setattr(release, "pinned_tool", lambda name: str(bin_dir / name))
    monkeypatch.setenv("COSIGN_CERTIFICATE_IDENTITY", IDENTITY)
    monkeypatch.setenv("COSIGN_CERTIFICATE_OIDC_ISSUER", ISSUER)
    (tmp_path / "images.json").write_text(json.dumps({"api-service": {"ref": REF}}))
    sbom = tmp_path / "sboms" / "api-service" / "sbom.cdx.json"
    sbom.parent.mkdir(parents=True)
    sbom.write_text('{"bomFormat": "CycloneDX"}')
    return tmp_path


def test_every_check_pins_the_release_identity_and_the_assets_are_written(
    release_dir: Path,
) -> None:
    out = release_dir / "release"
    code = microshop(
        ["verify-release", "--images", str(release_dir / "images.json"), "--service", "api-service",
         "--sbom-dir", str(release_dir / "sboms"), "--out-dir", str(out)]
    )  # fmt: skip
    assert code == 0
    calls = [json.loads(line) for line in (release_dir / "calls.jsonl").read_text().splitlines()]
    pinned = ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]
    assert calls == [
        ["cosign", "verify", *pinned, REF],
        ["cosign", "verify-attestation", "--type", "cyclonedx", *pinned, REF],
        ["cosign", "verify-attestation", "--type", "slsaprovenance1", *pinned, REF],
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "api-service.attestations.json",
        "api-service.provenance.json",
        "api-service.sbom.cdx.json",
        "api-service.signature.json",
    ]
    assert (out / "api-service.signature.json").read_text() == '{"verified": "verify"}\n'


def test_a_missing_sbom_stops_before_any_verification(release_dir: Path) -> None:
    with pytest.raises(SignError, match=r"no SBOM for api-service at .*/empty/api-service/sbom"):
        release.verify(
            release_dir / "images.json", "api-service", release_dir / "empty", release_dir / "out"
        )
    assert not (release_dir / "calls.jsonl").exists()
    assert not (release_dir / "out").exists()


def test_a_service_not_in_the_images_file_is_named(release_dir: Path) -> None:
    with pytest.raises(SignError, match="client-service"):
        release.verify(
            release_dir / "images.json", "client-service", release_dir / "sboms", release_dir / "o"
        )


def test_a_failed_verification_names_the_step(release_dir: Path) -> None:
    failing = release_dir / "bin" / "cosign"
    failing.write_text("#!/bin/sh\necho 'no matching signatures' >&2\nexit 1\n")
    with pytest.raises(
        SignError, match=r"^verify signature of .* failed: .*no matching signatures"
    ):
        release.verify(
            release_dir / "images.json", "api-service", release_dir / "sboms", release_dir / "o"
        )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"GITHUB_REPOSITORY": "other/shop",
          "GITHUB_WORKFLOW_REF": "other/shop/.github/workflows/release.yml@refs/tags/v1.2.3"},
         "builder id is 'https://github.com/other/shop/.github/workflows/release.yml@refs/tags/"
         "v1.2.3', expected 'https://github.com/acme/microshop/.github/workflows/release.yml@"
         "refs/tags/v1.2.3'; source repository is 'https://github.com/other/shop', expected "
         "'https://github.com/acme/microshop'"),
        ({"GITHUB_SHA": "cd" * 20},
         f"source commit is ['{'cd' * 20}'], expected ['{'ab' * 20}']"),
    ],
)  # fmt: skip
def test_a_provenance_of_another_run_is_refused(
    release_dir: Path, change: dict[str, str], problem: str
) -> None:
    (release_dir / "provenance.jsonl").write_text(envelope(provenance.predicate({**RUN, **change})))
    with pytest.raises(SignError) as refused:
        release.verify(
            release_dir / "images.json", "api-service", release_dir / "sboms", release_dir / "o"
        )
    assert str(refused.value) == f"the SLSA provenance is not this release's: {problem}"
    assert not (release_dir / "o" / "api-service.sbom.cdx.json").exists()
