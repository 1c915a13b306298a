"""Split a rendered multi-document manifest: Kyverno policies first, then everything else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

POLICY_KINDS = frozenset({"ClusterPolicy", "Policy"})


def split_policies(docs: Iterable[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (Kyverno policies, other objects); empty documents are dropped."""
    policies: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        is_policy = doc.get("kind") in POLICY_KINDS and str(doc.get("apiVersion", "")).startswith(
            "kyverno.io/"
        )
        (policies if is_policy else rest).append(doc)
    return policies, rest


def main(argv: Sequence[str] | None = None) -> int:
    """`split IN POLICIES_OUT REST_OUT`: write both halves as multi-document YAML."""
    parser = argparse.ArgumentParser(prog="manifests", description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("policies_out", type=Path)
    parser.add_argument("rest_out", type=Path)
    args = parser.parse_args(argv)
    try:
        docs = list(yaml.safe_load_all(args.source.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        print(f"manifests: cannot read {args.source}: {exc}", file=sys.stderr)
        return 2
    policies, rest = split_policies(docs)
    args.policies_out.write_text(yaml.safe_dump_all(policies, sort_keys=False))
    args.rest_out.write_text(yaml.safe_dump_all(rest, sort_keys=False))
    print(f"manifests: {len(policies)} Kyverno policies, {len(rest)} other objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
