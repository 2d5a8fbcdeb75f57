#!/usr/bin/env bash
# Installs what a command needs on a fresh Debian machine; quick when done already. Each level adds to the one
# before it:
#   demo  what `make demo` and `make run` run:
#         - Java 17+ and Maven (Debian packages): the embedded Apache Kafka broker, from Maven Central's jars
#         - Prometheus and Alertmanager (Debian's prometheus, prometheus-alertmanager; promtool and amtool too)
#         - a virtualenv in .venv with this package and its pinned dependencies (constraints.txt)
#   unit  the Python test tools in .venv too (pytest, hypothesis, ruff, ...: the package's [test] extra)
#   test  what `make test` runs besides:
#         - openssl (a throw-away CA for the secured-broker tests)
#         - podman, runc and mmdebstrap (the container image is built and run in its test)
#         - chromium (headless: the reports and runbooks are opened as a browser would)
#         - helm (the chart's tests), built with Go from the Go module proxy once per machine
#         - Request Tracker 5 (request-tracker5, rt5-db-sqlite, rt5-standalone; dma as its MTA, no daemon): the
#           ingest end-to-end test runs a private instance
# Missing Debian packages are installed with apt-get, which needs root: anyone else is told what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

level=${1:-test}
case "$level" in
  demo) rank=1 ;; unit) rank=2 ;; test) rank=3 ;;
  *) echo "usage: scripts/bootstrap.sh demo|unit|test" >&2; exit 2 ;;
esac

need_apt=()
need() {  # need PACKAGE COMMAND...: the package, unless every command is there already
  local package=$1; shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { need_apt+=("$package"); return; }
  done
}
need default-jre-headless java
need maven mvn
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
need prometheus-alertmanager prometheus-alertmanager amtool
need prometheus prometheus promtool
if [ "$rank" -ge 3 ]; then
  need openssl openssl
  for tool in podman runc mmdebstrap; do need "$tool" "$tool"; done
  need chromium chromium
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: please install (as root: apt-get install ${need_apt[*]})" >&2; exit 1
  fi
  echo "bootstrap: installing ${need_apt[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "$rank" -ge 3 ]; then
  # Request Tracker 5 (Debian's packages): the ingest end-to-end test runs a private instance of it (SQLite in
  # a temp dir, its own config through RT_SITE_CONFIG). The answers are preseeded so nothing prompts: no
  # database made by dbconfig (the test makes its own), no cron jobs. dma is a mail transport without a
  # daemon for RT's MTA dependency (the default, exim4, would start one); RT sends no mail in the test.
  rt_packages=(request-tracker5 rt5-db-sqlite rt5-standalone)
  rt_installed=$(dpkg-query -W -f='${db:Status-Status}\n' "${rt_packages[@]}" 2>/dev/null | grep -cx installed || true)
  if [ "$rt_installed" != "${#rt_packages[@]}" ]; then
    mta=(); [ -x /usr/sbin/sendmail ] || mta=(dma)
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "bootstrap: please install Request Tracker 5 (as root: apt-get install --no-install-recommends" \
           "${rt_packages[*]} ${mta[*]})" >&2; exit 1
    fi
    echo "bootstrap: installing Request Tracker 5 (apt-get, a minute or two once)"
    debconf-set-selections <<'DEBCONF'
request-tracker5 request-tracker5/dbconfig-install boolean false
request-tracker5 request-tracker5/install-cronjobs boolean false
request-tracker5 request-tracker5/rtname string rt.example
request-tracker5 request-tracker5/organization string example.org
request-tracker5 request-tracker5/correspondaddress string rt@example.org
request-tracker5 request-tracker5/commentaddress string rt-comment@example.org
request-tracker5 request-tracker5/webbaseurl string http://localhost
DEBCONF
    [ ${#need_apt[@]} -gt 0 ] || apt-get update -qq
    log=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           "${rt_packages[@]}" "${mta[@]}" >"$log" 2>&1; then
      cat "$log" >&2; echo "bootstrap: installing Request Tracker 5 failed" >&2; exit 1
    fi
    rm -f "$log"
  fi
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

if [ "$rank" -ge 3 ]; then
  # helm (the chart's lint and template tests), built from the Go module proxy once per machine
  helm_version=v3.22.0
  if ! command -v go >/dev/null 2>&1; then
    echo "bootstrap: Go is needed to build helm $helm_version (the chart tests of make test)" >&2; exit 1
  fi
  helm_bin="$(go env GOPATH)/bin/helm"
  if [ ! -x "$helm_bin" ] || ! go version -m "$helm_bin" 2>/dev/null | grep -Eq "^\s*mod\s+helm.sh/helm/v3\s+$helm_version\b"; then
    echo "bootstrap: building helm $helm_version (go install, a few minutes once)"
    log=$(mktemp)
    if ! GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$helm_version" >"$log" 2>&1; then
      cat "$log" >&2; echo "bootstrap: go install helm failed" >&2; exit 1
    fi
    rm -f "$log"
  fi
fi

# .venv/.installed: the hash of what was installed from, and the level it was installed for
stamp=.venv/.installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
read -r have have_rank 2>/dev/null <"$stamp" || true
if [ ! -x .venv/bin/python ] || [ "${have:-}" != "$want" ] || [ "${have_rank:-0}" -lt "$(( rank < 2 ? 1 : 2 ))" ]; then
  spec=.
  venv_rank=1
  if [ "$rank" -ge 2 ]; then spec='.[test]'; venv_rank=2; fi
  echo "bootstrap: installing the pinned dependencies into .venv ($level)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  log=$(mktemp)
  # The venv's own pip is enough (no upgrade of pip itself, nor its version check). --no-compile: Python
  # compiles what it imports when it first does; compiling all of numpy and matplotlib up front took longer.
  if ! PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/python -m pip install -q --no-compile -c constraints.txt \
         -e "$spec" >"$log" 2>&1; then
    cat "$log" >&2; echo "bootstrap: pip install failed" >&2; exit 1
  fi
  rm -f "$log"
  echo "$want $venv_rank" > "$stamp"
fi
