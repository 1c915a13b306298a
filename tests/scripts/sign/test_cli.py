"""The sign stage's logic (microshop_ci.sign.cli) against stand-in cosign and syft binaries."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core import tools
from microshop_ci.sign import cli, signer

DIGEST = "sha256:" + "d" * 64
REF = f"127.0.0.1:5000/ferretdb@{DIGEST}"
SBOM = {"bomFormat": "CycloneDX", "components": [{"purl": "pkg:golang/github.com/x/y@v1"}]}
STATEMENT = {"predicateType": "https://cyclonedx.org/bom", "predicate": SBOM}
ENVELOPE = json.dumps({"payload": base64.b64encode(json.dumps(STATEMENT).encode()).decode()})

# cosign stand-in: logs its arguments (and whether it got a password), fails where told to.
COSIGN = """#!/bin/sh
echo "$1 pw=${COSIGN_PASSWORD:+yes} $*" >> "$CALLS"
case "$1" in
  generate-key-pair) echo key > cosign.key; echo pub > cosign.pub ;;
  verify) echo '[{"critical": {}}]' ;;
  verify-attestation) cat "$ENVELOPE_FILE" ;;
esac
if [ "$1" = "$FAIL_STEP" ]; then echo "cosign says no" >&2; exit 1; fi
"""
SYFT = """#!/bin/sh
echo "syft $* insecure=$SYFT_REGISTRY_INSECURE_USE_HTTP" >> "$CALLS"
out="${5#cyclonedx-json=}"
cat "$SBOM_FILE" > "$out"
"""


def _exe(path: Path, body: str) -> str:
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Stand-in cosign and syft, found through MICROSHOP_TOOL_*; returns the calls log."""
    calls = tmp_path / "calls.txt"
    (tmp_path / "sbom.json").write_text(json.dumps(SBOM))
    (tmp_path / "envelope.jsonl").write_text(ENVELOPE + "\n")
    monkeypatch.setenv("MICROSHOP_TOOL_COSIGN", _exe(tmp_path / "cosign", COSIGN))
    monkeypatch.setenv("MICROSHOP_TOOL_SYFT", _exe(tmp_path / "syft", SYFT))
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("SBOM_FILE", str(tmp_path / "sbom.json"))
    monkeypatch.setenv("ENVELOPE_FILE", str(tmp_path / "envelope.jsonl"))
    monkeypatch.delenv("MICROSHOP_COSIGN_BUNDLE", raising=False)
    monkeypatch.delenv("MICROSHOP_REGISTRY_PLAIN_HTTP", raising=False)
    tools.pinned_tool.cache_clear()
    yield calls
    tools.pinned_tool.cache_clear()


def _images(tmp_path: Path) -> Path:
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"ferretdb": {"ref": REF}}))
    return path


def _main(tmp_path: Path, *extra: str) -> int:
    return microshop(
        [
            "sign", "--mode", "key", "--images", str(_images(tmp_path)),
            "--out-dir", str(tmp_path / "out"), "--key-dir", str(tmp_path / "keys"), *extra,
        ]
    )  # fmt: skip


def test_key_mode_makes_a_key_then_signs_attests_and_verifies(tmp_path: Path, fakes: Path) -> None:
    assert _main(tmp_path) == 0
    keys = tmp_path / "keys"
    assert stat.S_IMODE((keys / "password").stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    calls = fakes.read_text().splitlines()
    key, pub = keys / "cosign.key", keys / "cosign.pub"
    sbom = tmp_path / "out" / "ferretdb" / "sbom.cdx.json"
    assert calls == [
        "generate-key-pair pw=yes generate-key-pair --output-key-prefix cosign",
        f"syft scan registry:{REF} -q -o cyclonedx-json={sbom} insecure=true",
        f"sign pw=yes sign --key {key} --tlog-upload=false --use-signing-config=false "
        f"--new-bundle-format=false --yes {REF}",
        f"attest pw=yes attest --key {key} --tlog-upload=false --use-signing-config=false "
        f"--new-bundle-format=false --yes --type cyclonedx --predicate {sbom} {REF}",
        f"verify pw= verify --key {pub} --insecure-ignore-tlog=true {REF}",
        f"verify-attestation pw= verify-attestation --key {pub} --insecure-ignore-tlog=true "
        f"--type cyclonedx {REF}",
    ]
    out = tmp_path / "out" / "ferretdb"
    assert json.loads((out / "verify.json").read_text()) == [{"critical": {}}]
    assert (out / "attestation.json").read_text() == ENVELOPE + "\n"


def test_a_failed_verification_names_the_service_and_the_reference(
    tmp_path: Path, fakes: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAIL_STEP", "verify")
    assert _main(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"error: ferretdb: signature verification FAILED for {REF}" in err
    assert "cosign says no" in err


def test_an_sbom_without_go_modules_is_incomplete(
    tmp_path: Path, fakes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sbom.json").write_text(json.dumps({"bomFormat": "CycloneDX"}))
    (tmp_path / "keys").mkdir()
    for name in ("cosign.key", "cosign.pub"):
        (tmp_path / "keys" / name).write_text("k")
    assert _main(tmp_path, "--step", "sbom") == 1
    err = capsys.readouterr().err
    assert "no Go module is listed (pkg:golang components)" in err
    assert err.rstrip().endswith("error: ferretdb: the SBOM is incomplete")


def test_verify_alone_needs_an_existing_public_key(
    tmp_path: Path, fakes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(tmp_path, "--step", "verify") == 1
    assert capsys.readouterr().err == f"error: no public key {tmp_path / 'keys' / 'cosign.pub'}\n"
    assert not fakes.exists()


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (("--step", "publish"), 2, "argument --step: invalid choice: 'publish'"),
        (("--service", "web"), 1, "has no image for 'web' (has: ferretdb)"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(
    tmp_path: Path,
    fakes: Path,
    extra: tuple[str, ...],
    code: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _main(tmp_path, *extra) == code
    assert message in capsys.readouterr().err
    assert not fakes.exists()


def test_a_missing_images_file_says_how_to_make_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = microshop(["sign", "--mode", "key", "--images", str(tmp_path / "none.json")])
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'none.json'}: not found "
        "(run scripts/build-images --push --out FILE first)\n"
    )


def test_keyless_mode_needs_the_release_identity_and_an_oidc_token() -> None:
    with pytest.raises(cli.SignError, match="needs COSIGN_CERTIFICATE_IDENTITY"):
        cli.signer("keyless", Path("k"), {})
    identity = {"COSIGN_CERTIFICATE_IDENTITY": "id", "COSIGN_CERTIFICATE_OIDC_ISSUER": "iss"}
    with pytest.raises(cli.SignError, match="needs a GitHub Actions OIDC token"):
        cli.signer("keyless", Path("k"), identity)
    how = cli.signer(
        "keyless",
        Path("k"),
        {**identity, "ACTIONS_ID_TOKEN_REQUEST_URL": "u", "MICROSHOP_REGISTRY_PLAIN_HTTP": "true"},
    )
    assert how.sign_flags == (
        "--new-bundle-format=false", "--use-signing-config=false", "--yes", "--allow-http-registry"
    )  # fmt: skip
    assert how.verify_flags == (
        "--certificate-identity", "id", "--certificate-oidc-issuer", "iss", "--allow-http-registry"
    )  # fmt: skip


PRIVATE = {
    "MICROSHOP_SIGSTORE_FULCIO_URL": "http://127.0.0.1:5555",
    "MICROSHOP_SIGSTORE_REKOR_URL": "http://127.0.0.1:3000",
}


@pytest.mark.parametrize(
    ("root", "skip_sct"),
    [({"tlogs": [], "certificateAuthorities": []}, ("--insecure-ignore-sct",)),
     ({"tlogs": [], "ctlogs": [{"baseUrl": "http://ct"}]}, ())],
)  # fmt: skip
def test_a_private_sigstore_changes_only_the_urls_and_the_trust_root(
    tmp_path: Path, root: dict[str, object], skip_sct: tuple[str, ...]
) -> None:
    trusted_root = tmp_path / "trusted_root.json"
    trusted_root.write_text(json.dumps(root))
    env = {
        "COSIGN_CERTIFICATE_IDENTITY": "id",
        "COSIGN_CERTIFICATE_OIDC_ISSUER": "iss",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "u",
        **PRIVATE,
        "MICROSHOP_SIGSTORE_TRUSTED_ROOT": str(trusted_root),
    }
    how = cli.signer("keyless", Path("k"), env)
    common = ("--rekor-url", "http://127.0.0.1:3000", "--trusted-root", str(trusted_root))
    assert how.sign_flags == (
        "--new-bundle-format=false", "--use-signing-config=false",
        "--fulcio-url", "http://127.0.0.1:5555", *common, "--yes")  # fmt: skip
    assert how.verify_flags == (
        "--certificate-identity", "id", "--certificate-oidc-issuer", "iss", *common, *skip_sct
    )  # fmt: skip


def test_a_private_sigstore_needs_all_three_settings(tmp_path: Path) -> None:
    with pytest.raises(
        cli.SignError, match=r"^a private Sigstore needs MICROSHOP_SIGSTORE_TRUSTED_ROOT as well$"
    ):
        signer.private_sigstore(PRIVATE)
    missing = {**PRIVATE, "MICROSHOP_SIGSTORE_TRUSTED_ROOT": str(tmp_path / "none.json")}
    with pytest.raises(cli.SignError, match=r"TRUSTED_ROOT: .*none\.json is not a trusted root"):
        signer.private_sigstore(missing)
    assert signer.private_sigstore({}) == ((), ())


def test_the_new_bundle_format_keeps_the_signing_config() -> None:
    how = cli.signer("key", Path("k"), {"MICROSHOP_COSIGN_BUNDLE": "new"})
    assert "--new-bundle-format=true" in how.sign_flags
    assert "--new-bundle-format=false" not in how.sign_flags


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("generate-key-pair", "cosign generate-key-pair failed in {keys}"),
        ("sign", "ferretdb: cosign sign failed"),
        ("attest", "ferretdb: cosign attest --type cyclonedx failed"),
        ("verify-attestation", f"ferretdb: cyclonedx attestation verification FAILED for {REF}"),
    ],
)
def test_each_failed_cosign_step_is_named_and_stops_the_run(
    tmp_path: Path,
    fakes: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    step: str,
    message: str,
) -> None:
    monkeypatch.setenv("FAIL_STEP", step)
    assert _main(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"error: {message.format(keys=tmp_path / 'keys')}" in err
    assert fakes.read_text().splitlines()[-1].startswith(f"{step} ")


def test_a_failed_sbom_scan_shows_syfts_output(
    tmp_path: Path, fakes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _exe(tmp_path / "syft", "#!/bin/sh\necho 'registry answered 401' >&2\nexit 1\n")
    (tmp_path / "keys").mkdir()
    for name in ("cosign.key", "cosign.pub"):
        (tmp_path / "keys" / name).write_text("k")
    assert _main(tmp_path, "--step", "sbom") == 1
    err = capsys.readouterr().err
    assert "registry answered 401\n" in err
    assert err.rstrip().endswith("error: ferretdb: syft failed")


def test_attesting_needs_the_sbom_step_first(
    tmp_path: Path, fakes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(tmp_path, "--step", "sign", "--step", "attest") == 1
    err = capsys.readouterr().err
    assert err.rstrip().endswith(
        f"error: ferretdb: no SBOM in {tmp_path / 'out' / 'ferretdb'} (run the sbom step)"
    )


def test_a_key_without_its_password_file_cannot_sign(
    tmp_path: Path, fakes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("cosign.key", "cosign.pub"):
        (keys / name).write_text("k")
    assert _main(tmp_path, "--step", "sign") == 1
    assert (
        capsys.readouterr()
        .err.rstrip()
        .endswith(
            f"error: no password file for {keys / 'cosign.key'} (expected {keys / 'password'})"
        )
    )
