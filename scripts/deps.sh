#!/usr/bin/env bash
# Installs the Debian 12 packages shopmq needs to build, test and run, but
# only the ones that are missing: a second run is a dpkg-query and nothing
# else. Uses sudo when not root. CI=true (or no terminal) = non-interactive.
# `scripts/deps.sh --list` prints the package list (used by .ci/run).
set -euo pipefail

PACKAGES=(
    # build
    gcc make cmake pkg-config git ca-certificates
    # libraries (pkg-config modules in CMakeLists.txt)
    libzmq3-dev libczmq-dev libmicrohttpd-dev libpq-dev libhiredis-dev libjansson-dev
    libcmocka-dev
    # the dev stack and the integration tests
    # (bookworm: postgresql-15 includes contrib, i.e. pg_stat_statements and pg_trgm;
    # postgresql-contrib-15 is only a virtual name dpkg-query cannot see)
    postgresql-15 postgresql-client-15 redis-server
    # fuzzing, sanitizers, memcheck (scripts/fuzz.sh, check-sanitize.sh, check-valgrind.sh);
    # libclang-rt-14-dev holds libFuzzer and the sanitizer runtimes (only recommended by clang)
    clang libclang-rt-14-dev valgrind
    # scripts, benchmarks, troubleshooting
    curl jq wrk procps iproute2
    # /docs: `make build` fetches Swagger UI with npm (docs/package-lock.json).
    # The browser test's own tools (chromium, prometheus's promtool,
    # python3-jsonschema) are installed by tests/e2e/run.sh when it runs.
    nodejs
)
# Debian's npm conflicts with a nodejs that bundles its own (NodeSource).
command -v npm >/dev/null || PACKAGES+=(npm)

if [[ "${1:-}" == --list ]]; then
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi

# One dpkg-query for the whole list keeps a second run instant.
declare -A installed=()
while read -r name status; do
    [[ "$status" == installed ]] && installed[${name%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
    [[ -n "${installed[$p]:-}" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi

echo "deps: installing missing Debian packages: ${missing[*]}" >&2
SUDO=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
        echo "deps: not root and sudo is not installed; as root run:" >&2
        echo "  apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

APT_OPTS=()
if [[ "${CI:-}" == true || ! -t 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
fi
# Without fresh lists a clean machine cannot find anything; refresh once.
"${SUDO[@]}" env DEBIAN_FRONTEND="${DEBIAN_FRONTEND:-}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND="${DEBIAN_FRONTEND:-}" \
    apt-get install --no-install-recommends "${APT_OPTS[@]}" "${missing[@]}"
