#!/usr/bin/env bash
# Installs everything the pipeline and its tests need on a fresh Debian machine; quick when done already.
#   - Java 17+ and Maven (Debian packages) to run the embedded Apache Kafka broker from Maven Central's jars
#   - Alertmanager and amtool (Debian's prometheus-alertmanager) for on-call delivery and its tests
#   - Prometheus and promtool (Debian's prometheus) for the rules, alerts and dashboard tests
#   - openssl (a throw-away CA for the secured-broker tests); podman, runc and mmdebstrap (the image test)
#   - chromium (headless: the HTML reports' test opens each report the way a manager's browser would)
#   - a virtualenv in .venv with this package and its pinned dependencies (constraints.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # the secured-broker tests make a throw-away CA
# podman, runc and mmdebstrap build and run the container image in its test (no registry: a local base)
for tool in podman runc mmdebstrap; do command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool"); done
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # the reports' browser test (headless)
# Alertmanager (and amtool) for on-call delivery; Prometheus (and promtool) for the rules and dashboard tests
command -v prometheus-alertmanager >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: please install: ${need_apt[*]}" >&2; exit 1
  fi
  echo "bootstrap: installing ${need_apt[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"bootstrap: Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
PY
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
if [ "${java_major%%.*}" -lt 17 ] 2>/dev/null; then
  echo "bootstrap: Java 17 or newer is needed, found ${java_major}" >&2; exit 1
fi

# helm (the chart's lint and template tests), built from the Go module proxy once per machine
helm_version=v3.22.0
if ! command -v go >/dev/null 2>&1; then
  echo "bootstrap: Go is needed to build helm $helm_version (the chart tests)" >&2; exit 1
fi
helm_bin="$(go env GOPATH)/bin/helm"
if [ ! -x "$helm_bin" ] || ! go version -m "$helm_bin" 2>/dev/null | grep -Eq "^\s*mod\s+helm.sh/helm/v3\s+$helm_version\b"; then
  echo "bootstrap: building helm $helm_version (go install)"
  log=$(mktemp)
  if ! GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$helm_version" >"$log" 2>&1; then
    cat "$log" >&2; echo "bootstrap: go install helm failed" >&2; exit 1
  fi
  rm -f "$log"
fi

stamp=.venv/.installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv with pinned dependencies"
  python3 -m venv .venv
  log=$(mktemp)
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -c constraints.txt -e '.[test]'; } >"$log" 2>&1; then
    cat "$log" >&2; echo "bootstrap: pip install failed" >&2; exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
fi
