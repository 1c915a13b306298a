"""Render the Kyverno policies for one environment from their single committed source.

Profiles: `release` (keyless: the release workflow of REPOSITORY on a v* tag; only the release
registry), `local` (the cosign public key of local and kind runs, transparency log and SCT
checks off for offline use, the local registries reached over plain HTTP) and `keyless-local`
(the release rendering trusting the local Sigstore of `microshop sigstore` instead of the public
one: its OIDC issuer, Fulcio root, Rekor URL and key; the local registries as in `local`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from microshop_ci.core.errors import UsageError
from microshop_ci.k8s.common import POLICIES_DIR

Profile = Literal["local", "release", "keyless-local"]
PLACEHOLDER = "__REPOSITORY__"  # OWNER/NAME: the release workflow's identity
OWNER = "__OWNER__"  # the release images' namespace: ghcr.io/OWNER/<service> (lower case)
DEFAULT_REPOSITORY = "microshop/microshop"
LOCAL_REGISTRIES = ("127.0.0.1:5000/*", "localhost:5000/*", "kind-registry:5000/*")
REKOR_URL = "https://rekor.sigstore.dev"
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_REGISTRY = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


def policy_files(root: Path = POLICIES_DIR) -> list[Path]:
    """Every policy source: policies/kyverno/<category>/<name>/<name>.yaml."""
    found = root.glob("*/*/*.yaml")
    return sorted(p for p in found if p.stem == p.parent.name and ".kyverno-test" not in p.parts)


def load_sources(root: Path = POLICIES_DIR) -> list[dict[str, Any]]:
    """The committed policies, parsed."""
    return [yaml.safe_load(p.read_text()) for p in policy_files(root)]


def support_files(root: Path = POLICIES_DIR) -> list[Path]:
    """What the policies need in the cluster besides themselves (RBAC for their lookups)."""
    return sorted(root.glob("*/*/kyverno-rbac.yaml"))


def support_documents(root: Path = POLICIES_DIR) -> list[dict[str, Any]]:
    """The support objects, parsed."""
    return [yaml.safe_load(p.read_text()) for p in support_files(root)]


def _substitute(node: Any, repository: str, key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, repository, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, repository, key) for v in node]
    if isinstance(node, str) and OWNER in node:
        return node.replace(OWNER, repository.split("/")[0].lower())  # image names: lower case
    if isinstance(node, str) and PLACEHOLDER in node:
        if key.endswith("RegExp"):
            return node.replace(PLACEHOLDER, re.escape(repository))
        return node.replace(PLACEHOLDER, repository)
    return node


def _is_local(pattern: Any) -> bool:
    return isinstance(pattern, str) and pattern in LOCAL_REGISTRIES


def _filter_registries(node: Any, keep_local: bool, extra: list[str]) -> Any:
    """Drop (release) or extend (local) the registry lists in imageReferences and variables."""
    if isinstance(node, dict):
        return {k: _filter_registries(v, keep_local, extra) for k, v in node.items()}
    if isinstance(node, list):
        items = [_filter_registries(v, keep_local, extra) for v in node]
        if any(_is_local(v) for v in items):
            if not keep_local:
                return [v for v in items if not _is_local(v)]
            return items + [e for e in extra if e not in items]
        return items
    return node


@dataclass(frozen=True)
class SigstoreTrust:
    """What the keyless-local rendering trusts instead of the public Sigstore (PEMs as text).

    No CT log runs locally, so without ctlog_public_key the SCT check is off (`ignoreSCT`).
    """

    issuer: str
    rekor_url: str
    rekor_public_key: str
    fulcio_roots: str
    ctlog_public_key: str | None = None

    def check(self) -> None:
        """UsageError naming the first unusable field."""
        for name, value in (("issuer", self.issuer), ("rekor URL", self.rekor_url)):
            if not _URL.match(value):
                raise UsageError(f"keyless-local: the {name} must be an http(s) URL, got {value!r}")
        pems = (
            ("Rekor public key", self.rekor_public_key, "PUBLIC KEY"),
            ("Fulcio root", self.fulcio_roots, "CERTIFICATE"),
            ("CT log public key", self.ctlog_public_key, "PUBLIC KEY"),
        )
        for name, pem, kind in pems:
            if pem is not None and f"BEGIN {kind}" not in pem:
                raise UsageError(f"keyless-local: the {name} is not a PEM {kind}")


def _local_keyless(entry: dict[str, Any], trust: SigstoreTrust) -> dict[str, Any]:
    """A release keyless attestor entry with the local Sigstore's trust; identity unchanged."""
    keyless = dict(entry["keyless"])
    keyless["issuer"] = trust.issuer
    keyless["roots"] = trust.fulcio_roots.strip()
    keyless["rekor"] = {"url": trust.rekor_url, "pubkey": trust.rekor_public_key.strip()}
    keyless["ctlog"] = (
        {"pubkey": trust.ctlog_public_key.strip()}
        if trust.ctlog_public_key
        else {"ignoreSCT": True}
    )
    return {**entry, "keyless": keyless}


def _key_attestors(public_key: str) -> list[dict[str, Any]]:
    return [
        {
            "count": 1,
            "entries": [
                {
                    "keys": {
                        "publicKeys": public_key.strip(),
                        "rekor": {"url": REKOR_URL, "ignoreTlog": True},
                        "ctlog": {"ignoreSCT": True},
                    }
                }
            ],
        }
    ]


def _refuse_cached_verification(policy: str, rule: str, verify: dict[str, Any]) -> None:
    """Every verifyImages entry must say `useCache: false` (Kyverno's default is true).

    Kyverno keys its image-verification cache by the image reference, not the digest it resolved,
    so a cached result lets a tag moved to an unsigned image through (GHSA-2r43-6962-xcw5).
    """
    if verify.get("useCache") is not False:
        raise UsageError(
            f"policy {policy}, rule {rule}: verifyImages must set useCache: false (a cached "
            "verification is keyed by the tag, so a moved tag would be admitted unverified)"
        )


def _trust_for(
    verify: dict[str, Any], profile: Profile, public_key: str | None, trust: SigstoreTrust | None
) -> None:
    """Set one verifyImages entry's attestors and registry access for the profile."""
    if profile == "local":
        verify["attestors"] = _key_attestors(public_key or "")
        verify.pop("attestations", None)  # key-signed images carry no release provenance
    if profile == "keyless-local" and trust is not None:
        for attestors in [
            verify["attestors"],
            *(a["attestors"] for a in verify.get("attestations", [])),
        ]:
            for attestor in attestors:
                attestor["entries"] = [_local_keyless(e, trust) for e in attestor["entries"]]
    if profile != "release":
        verify["imageRegistryCredentials"] = {"allowInsecureRegistry": True}


def render(
    profile: Profile,
    repository: str = DEFAULT_REPOSITORY,
    public_key: str | None = None,
    registries: tuple[str, ...] = (),
    sources: list[dict[str, Any]] | None = None,
    trust: SigstoreTrust | None = None,
) -> list[dict[str, Any]]:
    """The policies for one profile; `local` needs the cosign public key (PEM), `keyless-local`
    the local Sigstore's trust."""
    if not _REPOSITORY.match(repository):
        raise UsageError(f"--repository must be OWNER/NAME, got {repository!r}")
    for registry in registries:
        if not _REGISTRY.match(registry):
            raise UsageError(f"--registry must be HOST[:PORT], got {registry!r}")
    if profile == "local" and (not public_key or "BEGIN PUBLIC KEY" not in public_key):
        raise UsageError("the local profile needs a cosign public key (PEM, BEGIN PUBLIC KEY)")
    if profile == "keyless-local":
        if trust is None:
            raise UsageError("the keyless-local profile needs the local Sigstore's trust")
        trust.check()
    extra = [f"{r}/*" for r in registries]
    rendered = []
    # a JSON round trip, not a deep copy: YAML anchors in a source (one attestor set used twice)
    # become independent copies, so the rendering has no aliases
    for source in json.loads(json.dumps(sources if sources is not None else load_sources())):
        policy = _substitute(source, repository)
        policy = _filter_registries(policy, profile != "release", extra)
        for rule in policy["spec"]["rules"]:
            for verify in rule.get("verifyImages", []):
                _refuse_cached_verification(policy["metadata"]["name"], rule["name"], verify)
                _trust_for(verify, profile, public_key, trust)
        rendered.append(policy)
    return rendered


def dump(policies: list[dict[str, Any]]) -> str:
    """Multi-document YAML of the rendered policies."""
    return yaml.safe_dump_all(policies, sort_keys=False)
