# Shared shell helpers for scripts/*: cache location, uv, logging. Source it, do not run it.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MICROSHOP_CACHE="${MICROSHOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microshop}"
export REPO_ROOT MICROSHOP_CACHE

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Print the path of the pinned uv, installing it into the cache from hashed requirements
# (scripts/microshop_ci/core/uv.py, standard library only: it runs before the locked environment).
uv_bin() {
  PYTHONPATH="$REPO_ROOT/scripts" python3 -m microshop_ci uv
}

# kubectl: the one built from the pinned Kubernetes source, so client and server versions match:
# with the local kind node image (microshop cluster node-image), else alone (scripts/build-kubectl, as
# GitHub's kind run does); else whatever is on PATH.
_k8s_version="$(sed -n 's/^KUBERNETES_VERSION=//p' "$REPO_ROOT/scripts/tool-versions.env")"
for _k8s_bin in "$MICROSHOP_CACHE/cluster/kubernetes/$_k8s_version/bin" \
                "$MICROSHOP_CACHE/cluster/kubectl/$_k8s_version/bin"; do
  if [[ -x "$_k8s_bin/kubectl" ]]; then
    if [[ ":$PATH:" != *":$_k8s_bin:"* ]]; then
      PATH="$_k8s_bin:$PATH"
      export PATH
    fi
    break
  fi
done
unset _k8s_version _k8s_bin

# Run `microshop SUBCOMMAND ARGS...` (scripts/microshop_ci/cli.py) in the locked environment, from
# any folder: the one way the scripts in scripts/ start the pipeline.
microshop() {
  exec "$(uv_bin)" run --frozen --quiet --project "$REPO_ROOT" microshop "$@"
}

# The same program with the system Python and scripts/ on PYTHONPATH, for the standard-library
# subcommands that run before the locked environment exists, or without it (setup, dockerd, tool,
# registry; the release jobs that install nothing).
microshop_stdlib() {
  PYTHONPATH="$REPO_ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m microshop_ci "$@"
}
