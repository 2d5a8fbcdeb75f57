#!/usr/bin/env bash
# Builds the sla-pipeline image with podman (or docker: CONTAINER=docker).
#   deploy/container/build.sh [TAG]          TAG defaults to localhost/sla-pipeline:<version>
# Wheels are built on the host (build/wheels/), so the image build needs no package index: the same
# file works behind a proxy whose CA only the host trusts. BASE picks the base image; with BASE=local a
# Debian bookworm base with Python is made from Debian's packages by mmdebstrap (no registry needed).
set -euo pipefail
cd "$(dirname "$0")/../.."
engine=${CONTAINER:-podman}
podman_flags=()
if [ "$engine" = podman ]; then
  # What this kind of machine needs (shared/DEPLOY-NOTES.md): runc, cgroupfs, no default ulimits.
  podman_flags=(--runtime runc --cgroup-manager=cgroupfs)
  if [ -z "${CONTAINERS_CONF:-}" ]; then
    export CONTAINERS_CONF="$PWD/build/containers.conf"
    mkdir -p build && printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"
  fi
fi
python=${PYTHON:-.venv/bin/python}
version=$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
tag=${1:-localhost/sla-pipeline:$version}
base=${BASE:-docker.io/library/python:3.11-slim}
if [ "$base" = local ]; then
  base=localhost/sla-pipeline-base:bookworm
  if ! "$engine" "${podman_flags[@]}" image exists "$base" 2>/dev/null; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/sla-pipeline/container
    mkdir -p "$cache"
    [ -s "$cache/base-bookworm.tar" ] || mmdebstrap --quiet --variant=minbase \
      --include=python3,python3-venv,ca-certificates,passwd bookworm "$cache/base-bookworm.tar"
    "$engine" "${podman_flags[@]}" import "$cache/base-bookworm.tar" "$base" >/dev/null
  fi
fi
rm -rf build/wheels
"$python" -m pip wheel --quiet -w build/wheels -c constraints.txt .
format=(); [ "$engine" = podman ] && format=(--format docker)  # keeps HEALTHCHECK (OCI drops it)
"$engine" "${podman_flags[@]}" build "${format[@]}" --network=host --build-arg "BASE=$base" -t "$tag" -f Containerfile .
echo "$tag"
