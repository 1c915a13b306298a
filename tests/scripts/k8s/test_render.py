"""microshop render-manifests: our digests and the JWKS go in, policies render per profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from microshop_ci.core.errors import UsageError
from microshop_ci.k8s import overlay, policies
from microshop_ci.k8s.images import load_images, parse_ref

DIGEST = "sha256:" + "b" * 64
IMAGES = {
    "api-service": {"ref": f"kind-registry:5000/api-service@{DIGEST}"},
    "client-service": {"ref": f"kind-registry:5000/client-service@{DIGEST}"},
}
MONGO_DIGEST = "sha256:35a5926f71f8b6cb19206bee928c5a85f241a8be99f20c81abe35ae78a73415d"
MONGO = f"docker.io/library/mongo@{MONGO_DIGEST}"
KEY = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"


def _images_in(text: str) -> list[str]:
    return sorted(
        {line.split("image:", 1)[1].strip() for line in text.splitlines() if "image:" in line}
    )


def test_the_overlay_gets_the_pushed_digests_and_mongo_stays_pinned(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    path.write_text(json.dumps(IMAGES))
    rendered = overlay.build("kind", load_images(path))
    assert _images_in(rendered) == [
        MONGO,
        f"kind-registry:5000/api-service@{DIGEST}",
        f"kind-registry:5000/client-service@{DIGEST}",
    ]


def test_the_committed_overlays_reference_every_image_by_digest() -> None:
    for name in ("kind", "production"):
        for image in _images_in(overlay.build(name)):
            assert "@sha256:" in image, (name, image)


def test_the_jwks_replaces_the_fail_closed_placeholder_in_every_mesh_overlay() -> None:
    jwks = '{"keys":[{"kty":"EC"}]}'
    production = overlay.documents(overlay.build("production", None, jwks))
    request_auth = next(d for d in production if d["kind"] == "RequestAuthentication")
    assert request_auth["spec"]["jwtRules"][0]["jwks"] == jwks
    committed = overlay.documents(overlay.build("production"))
    placeholder = next(d for d in committed if d["kind"] == "RequestAuthentication")
    assert placeholder["spec"]["jwtRules"][0]["jwks"] == '{"keys":[]}'
    for name in ("production", "kind"):
        rendered = overlay.documents(overlay.build(name, None, jwks))
        request_auth = next(d for d in rendered if d["kind"] == "RequestAuthentication")
        assert request_auth["spec"]["jwtRules"][0]["jwks"] == jwks


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{", "not JSON"),
        (json.dumps({"api-service": IMAGES["api-service"]}), "client-service.ref is missing"),
        (json.dumps({**IMAGES, "api-service": {"ref": "r/api-service:1.0"}}), "api-service.ref:"),
    ],
)
def test_a_bad_images_file_names_the_file_and_field(
    tmp_path: Path, content: str, error: str
) -> None:
    path = tmp_path / "images.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=error) as caught:
        load_images(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_parse_ref_refuses_tags_and_short_digests() -> None:
    assert parse_ref(f"127.0.0.1:5000/api-service@{DIGEST}").registry == "127.0.0.1:5000"
    for bad in ("api-service:1.0", "api-service@sha256:abc", f"API@{DIGEST}"):
        with pytest.raises(ValueError, match="is not NAME@sha256"):
            parse_ref(bad)


def test_the_release_profile_is_keyless_on_this_repository_and_drops_local_registries() -> None:
    rendered = {p["metadata"]["name"]: p for p in policies.render("release", "Acme/shop")}
    verify = rendered["verify-image-signatures"]["spec"]["rules"][0]["verifyImages"][0]
    assert verify["imageReferences"] == [
        "ghcr.io/acme/api-service:*", "ghcr.io/acme/api-service@*",
        "ghcr.io/acme/client-service:*", "ghcr.io/acme/client-service@*",
    ]  # fmt: skip
    keyless = verify["attestors"][0]["entries"][0]["keyless"]
    assert keyless["issuer"] == "https://token.actions.githubusercontent.com"
    assert keyless["subjectRegExp"] == (
        r"^https://github\.com/Acme/shop/\.github/workflows/release\.yml@refs/tags/"
        r"v[0-9]+\.[0-9]+\.[0-9]+$"
    )
    text = policies.dump(list(rendered.values()))
    assert "__REPOSITORY__" not in text
    assert "__OWNER__" not in text
    assert "5000" not in text


def test_the_local_profile_holds_the_key_offline_and_the_extra_registry() -> None:
    rendered = {
        p["metadata"]["name"]: p
        for p in policies.render("local", public_key=KEY, registries=("registry.test:5001",))
    }
    verify = rendered["verify-image-signatures"]["spec"]["rules"][0]["verifyImages"][0]
    keys = verify["attestors"][0]["entries"][0]["keys"]
    assert keys["publicKeys"] == KEY.strip()
    assert keys["rekor"]["ignoreTlog"] is True
    assert keys["ctlog"]["ignoreSCT"] is True
    assert verify["imageRegistryCredentials"] == {"allowInsecureRegistry": True}
    assert "registry.test:5001/*" in verify["imageReferences"]
    allowed = rendered["restrict-image-registries"]["spec"]["rules"][0]["context"][0]
    assert "registry.test:5001/*" in allowed["variable"]["value"]


CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
TRUST = policies.SigstoreTrust(
    issuer="http://172.18.0.1:5556",
    rekor_url="http://172.18.0.1:5557",
    rekor_public_key=KEY,
    fulcio_roots=CERT,
)


def _verify_entry(rendered: list[dict[str, object]]) -> dict[str, object]:
    by_name = {p["metadata"]["name"]: p for p in rendered}  # type: ignore[index]
    spec = by_name["verify-image-signatures"]["spec"]  # type: ignore[index]
    return spec["rules"][0]["verifyImages"][0]  # type: ignore[no-any-return]


def test_keyless_local_differs_from_release_only_in_the_trust_and_the_local_registries() -> None:
    release = _verify_entry(policies.render("release", "Acme/shop"))
    local = _verify_entry(policies.render("keyless-local", "Acme/shop", trust=TRUST))
    release_keyless = release["attestors"][0]["entries"][0]["keyless"]  # type: ignore[index]
    local_keyless = local["attestors"][0]["entries"][0]["keyless"]  # type: ignore[index]
    assert local_keyless == {
        "issuer": "http://172.18.0.1:5556",
        "subjectRegExp": release_keyless["subjectRegExp"],
        "rekor": {"url": "http://172.18.0.1:5557", "pubkey": KEY.strip()},
        "roots": CERT.strip(),
        "ctlog": {"ignoreSCT": True},
    }
    assert local["imageRegistryCredentials"] == {"allowInsecureRegistry": True}  # type: ignore[index]
    assert "kind-registry:5000/*" in local["imageReferences"]  # type: ignore[operator]
    trust_fields = ("attestors", "attestations", "imageReferences", "imageRegistryCredentials")
    same = {k: v for k, v in local.items() if k not in trust_fields}
    assert same == {k: v for k, v in release.items() if k not in trust_fields}
    # the provenance check: same conditions, the same (local) attestors as the signature
    [local_provenance] = local["attestations"]  # type: ignore[index]
    [release_provenance] = release["attestations"]  # type: ignore[index]
    assert local_provenance["attestors"] == local["attestors"]  # type: ignore[index]
    del local_provenance["attestors"], release_provenance["attestors"]
    assert local_provenance == release_provenance


def test_the_release_rendering_requires_the_release_workflows_provenance() -> None:
    release = _verify_entry(policies.render("release", "Acme/shop"))
    [provenance] = release["attestations"]  # type: ignore[index]
    assert provenance["type"] == "https://slsa.dev/provenance/v1"
    assert provenance["attestors"] == release["attestors"]  # type: ignore[index]
    assert provenance["conditions"] == [{"all": [
        {"key": "{{ runDetails.builder.id }}", "operator": "Equals",
         "value": "https://github.com/Acme/shop/.github/workflows/release.yml@refs/tags/v*"},
        {"key": "{{ buildDefinition.externalParameters.workflow.repository }}",
         "operator": "Equals", "value": "https://github.com/Acme/shop"},
    ]}]  # fmt: skip
    text = policies.dump(policies.render("release", "Acme/shop"))
    assert "&id0" not in text  # no YAML anchor rendered
    assert "*id0" not in text  # nor alias


def test_the_key_rendering_checks_no_release_provenance() -> None:
    local = _verify_entry(policies.render("local", public_key=KEY))
    assert "attestations" not in local


def test_keyless_local_with_a_ct_log_checks_its_scts() -> None:
    trust = policies.SigstoreTrust(**{**TRUST.__dict__, "ctlog_public_key": KEY})
    local = _verify_entry(policies.render("keyless-local", "Acme/shop", trust=trust))
    keyless = local["attestors"][0]["entries"][0]["keyless"]  # type: ignore[index]
    assert keyless["ctlog"] == {"pubkey": KEY.strip()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"issuer": "token.example"}, "the issuer must be an http"),
        ({"rekor_url": ""}, "the rekor URL must be an http"),
        ({"rekor_public_key": CERT}, "the Rekor public key is not a PEM PUBLIC KEY"),
        ({"fulcio_roots": KEY}, "the Fulcio root is not a PEM CERTIFICATE"),
    ],
)
def test_keyless_local_refuses_unusable_trust(change: dict[str, str], message: str) -> None:
    trust = policies.SigstoreTrust(**{**TRUST.__dict__, **change})
    with pytest.raises(UsageError, match=f"^keyless-local: {message}"):
        policies.render("keyless-local", "Acme/shop", trust=trust)


def test_keyless_local_without_trust_is_refused() -> None:
    with pytest.raises(UsageError, match="needs the local Sigstore's trust"):
        policies.render("keyless-local", "Acme/shop")


def test_the_cli_renders_keyless_local_from_the_trust_files(tmp_path: Path) -> None:
    (tmp_path / "rekor.pub").write_text(KEY)
    (tmp_path / "fulcio.pem").write_text(CERT)
    base = [sys.executable, "-m", "microshop_ci", "render-manifests", "kind", "--what", "policies",
            "--profile", "keyless-local", "--issuer", TRUST.issuer, "--rekor-url",
            TRUST.rekor_url, "--rekor-pub", str(tmp_path / "rekor.pub")]  # fmt: skip
    missing = subprocess.run(base, capture_output=True, text=True, check=False)
    assert (missing.returncode, missing.stderr) == (
        2, "error: --profile keyless-local needs --fulcio-root\n")  # fmt: skip
    args = [*base, "--fulcio-root", str(tmp_path / "fulcio.pem")]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "ClusterPolicy"]
    keyless = _verify_entry(rendered)["attestors"][0]["entries"][0]["keyless"]  # type: ignore[index]
    assert keyless["roots"] == CERT.strip()


@pytest.mark.parametrize("profile", ["release", "local", "keyless-local"])
def test_every_rendering_verifies_every_admission_afresh(profile: policies.Profile) -> None:
    key = KEY if profile == "local" else None
    entries = [
        verify
        for policy in policies.render(profile, "Acme/shop", key, trust=TRUST)
        for rule in policy["spec"]["rules"]
        for verify in rule.get("verifyImages", [])
    ]
    assert [verify["useCache"] for verify in entries] == [False]


@pytest.mark.parametrize("setting", [{"useCache": True}, {}])
def test_a_policy_that_would_reuse_a_verification_is_refused(setting: dict[str, bool]) -> None:
    verify = {"required": True, **setting}
    source = {
        "metadata": {"name": "verify-demo"},
        "spec": {"rules": [{"name": "verify-demo-rule", "verifyImages": [verify]}]},
    }
    with pytest.raises(UsageError, match=r"verify-demo, rule verify-demo-rule: .*useCache: false"):
        policies.render("release", "Acme/shop", sources=[source])


@pytest.mark.parametrize("repository", ["acme", "acme/shop/extra", "acme/shop;rm"])
def test_a_bad_repository_is_refused(repository: str) -> None:
    with pytest.raises(UsageError, match="OWNER/NAME"):
        policies.render("release", repository)


def test_the_cli_renders_policies_first_then_the_overlay(tmp_path: Path) -> None:
    images = tmp_path / "images.json"
    images.write_text(json.dumps(IMAGES))
    pub = tmp_path / "cosign.pub"
    pub.write_text(KEY)
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "render-manifests", "kind", "--images", str(images),
         "--cosign-pub", str(pub)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert kinds[:24] == ["ClusterPolicy"] * 23 + ["ClusterRole"]
    assert "ClusterPolicy" not in kinds[24:]
    assert "Deployment" in kinds


def test_the_cli_without_a_key_for_the_local_profile_says_which_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "render-manifests", "kind", "--cosign-pub",
         str(tmp_path / "missing.pub")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'missing.pub'}: cannot read the cosign public key "
        "(No such file or directory)"
    )


def test_mesh_rules_and_network_policies_come_before_the_workloads() -> None:
    kinds = [d["kind"] for d in overlay.documents(overlay.build("production"))]
    first_workload = min(kinds.index(k) for k in ("Deployment", "StatefulSet", "Job"))
    assert kinds[0] == "Namespace"
    for kind in ("AuthorizationPolicy", "PeerAuthentication", "NetworkPolicy", "ServiceAccount"):
        assert max(i for i, k in enumerate(kinds) if k == kind) < first_workload, kind


def test_kyverno_may_read_authorizationpolicies_and_nothing_more() -> None:
    (role,) = policies.support_documents()
    assert role["kind"] == "ClusterRole"
    assert role["rules"] == [
        {"apiGroups": ["security.istio.io"], "resources": ["authorizationpolicies"],
         "verbs": ["get", "list", "watch"]}
    ]  # fmt: skip
    labels = role["metadata"]["labels"]
    for controller in ("admission", "background", "reports"):
        assert labels[f"rbac.kyverno.io/aggregate-to-{controller}-controller"] == "true"
