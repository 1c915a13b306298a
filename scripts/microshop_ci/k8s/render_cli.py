"""microshop render-manifests: one overlay with the pushed images' digests, and its policies."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from microshop_ci.core.errors import UsageError
from microshop_ci.core.paths import LOCAL_DIR
from microshop_ci.k8s import overlay, policies
from microshop_ci.k8s.common import SECRETS_DIR, overlay_dir
from microshop_ci.k8s.images import load_images

PROFILES: dict[str, policies.Profile] = {"kind": "local", "production": "release"}
DEFAULT_COSIGN_PUB = LOCAL_DIR / "cosign" / "cosign.pub"


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what} ({exc.strerror})") from exc


def _trust(args: argparse.Namespace) -> policies.SigstoreTrust:
    """The keyless-local profile's trust from its flags; UsageError naming a missing one."""
    for flag in ("issuer", "rekor_url", "rekor_pub", "fulcio_root"):
        if getattr(args, flag) is None:
            raise UsageError(f"--profile keyless-local needs --{flag.replace('_', '-')}")
    return policies.SigstoreTrust(
        issuer=args.issuer,
        rekor_url=args.rekor_url,
        rekor_public_key=_read(args.rekor_pub, "Rekor public key"),
        fulcio_roots=_read(args.fulcio_root, "Fulcio root"),
        ctlog_public_key=_read(args.ctlog_pub, "CT log public key") if args.ctlog_pub else None,
    )


def configure(p: argparse.ArgumentParser) -> None:
    """The command line of `microshop render-manifests`."""
    p.add_argument("overlay", help="k8s/overlays/<overlay>: kind or production")
    p.add_argument("--images", type=Path, default=os.environ.get("MICROSHOP_IMAGES_FILE"),
                   help="images file of scripts/build-images (env MICROSHOP_IMAGES_FILE); "
                   "without it the committed placeholder digests stay")  # fmt: skip
    p.add_argument("--jwks", type=Path, help="inline JWKS for the RequestAuthentication "
                   "(default: .local/k8s/OVERLAY/jwks.json, microshop deploy-secrets)")  # fmt: skip
    p.add_argument("--what", choices=("all", "manifests", "policies"), default="all")
    p.add_argument("--component", action="append", default=[],
                   help="add k8s/components/NAME (repeatable), e.g. ferretdb")  # fmt: skip
    p.add_argument("--profile", choices=("local", "release", "keyless-local"),
                   help="policy profile (default: local for kind, release otherwise)")  # fmt: skip
    repository = os.environ.get("GITHUB_REPOSITORY") or policies.DEFAULT_REPOSITORY
    p.add_argument("--repository", default=repository, help="OWNER/NAME of the release workflow")
    p.add_argument("--cosign-pub", type=Path,
                   default=Path(os.environ.get("MICROSHOP_COSIGN_PUB", DEFAULT_COSIGN_PUB)),
                   help="cosign public key for the local profile")  # fmt: skip
    local = p.add_argument_group("keyless-local profile: the local Sigstore (`sigstore env`)")
    local.add_argument("--issuer", help="the OIDC issuer URL Fulcio certifies")
    local.add_argument("--rekor-url", help="Rekor's URL")
    local.add_argument("--rekor-pub", type=Path, help="Rekor's public key (PEM file)")
    local.add_argument("--fulcio-root", type=Path, help="Fulcio's root certificate (PEM file)")
    local.add_argument("--ctlog-pub", type=Path, help="the CT log's public key (PEM file); "
                       "without it the SCT check is off")  # fmt: skip
    p.add_argument(
        "--registry",
        action="append",
        default=[],
        help="another registry (HOST:PORT) allowed and verified in the local profile",
    )
    p.add_argument("-o", "--out", type=Path, help="write here instead of standard output")


def render(args: argparse.Namespace) -> str:
    """The rendered YAML stream: the policies first, then the overlay's manifests."""
    overlay_dir(args.overlay)
    parts = []
    if args.what in ("all", "policies"):
        profile = args.profile or PROFILES.get(args.overlay, "release")
        key = _read(args.cosign_pub, "cosign public key") if profile == "local" else None
        trust = _trust(args) if profile == "keyless-local" else None
        rendered = policies.render(profile, args.repository, key, tuple(args.registry), trust=trust)
        parts.append(policies.dump(rendered + policies.support_documents()))
    if args.what in ("all", "manifests"):
        images = load_images(args.images) if args.images else None
        if images is None:
            print("render-manifests: no images file: placeholder digests kept", file=sys.stderr)
        jwks_file = args.jwks or SECRETS_DIR / args.overlay / "jwks.json"
        jwks = _read(jwks_file, "JWKS").strip() if args.jwks or jwks_file.is_file() else None
        parts.append(overlay.build(args.overlay, images, jwks, tuple(args.component)))
    return "---\n".join(part if part.endswith("\n") else part + "\n" for part in parts)


def run_command(args: argparse.Namespace) -> int:
    """Render, print or write."""
    text = render(args)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0
