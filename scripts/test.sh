#!/usr/bin/env bash
# The project's test command.
#
# 1. Installs the Debian packages the integration tests need (a real Samba AD
#    DC, client tools, tshark) when missing -- only as root; otherwise prints
#    what to install and goes on, so the unit tests still run.
# 2. Creates .venv-tests/ with pinned impacket and aiowmi (the simulator's judges).
# 3. Installs cargo-nextest when missing (falls back to `cargo test`).
# 4. Runs the whole workspace's tests and exits with the runner's status.
#
# CI=true (passed through unchanged) turns skipped integration tests into failures.
# Idempotent: a second run installs nothing.
set -euo pipefail

cd "$(dirname "$0")/.."

PKGS=(samba samba-ad-dc krb5-user winbind smbclient tshark dnsmasq iptables iproute2 chromium chromium-driver)

echo "== winventory test: ensure packages (${PKGS[*]}), ensure cargo-nextest, run workspace tests"
echo "== CI=${CI:-<unset>}  user=$(id -un)  repo=$(pwd)"
if [[ -n "${CI+x}" ]]; then
    export CI
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${PKGS[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
else
    echo "== no dpkg: cannot check packages; the Samba/tshark tests need: ${PKGS[*]}" >&2
fi

if ((${#missing[@]} > 0)); then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Do not prompt about non-root packet capture; do not ask for a realm.
        {
            echo "wireshark-common wireshark-common/install-setuid boolean false"
            echo "krb5-config krb5-config/default_realm string WINV.TEST"
            echo "krb5-config krb5-config/add_servers_realm string WINV.TEST"
            echo "krb5-config krb5-config/add_servers boolean false"
        } | debconf-set-selections
        apt-get update -qq
        apt-get install -y -qq \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}"
    else
        echo "== missing packages: ${missing[*]}" >&2
        echo "== install them as root with: apt-get install ${missing[*]}" >&2
        echo "== continuing: tests needing them are skipped (or fail under CI=true)" >&2
    fi
else
    echo "== packages: all present"
fi

# The third-party clients that judge the simulator, pinned, in a venv of the
# repository's own (.venv-tests/, ignored by git).
VENV=.venv-tests
PY_PKGS=(impacket==0.13.1 aiowmi==1.1.3)
if ! "$VENV/bin/python" -c 'import impacket, aiowmi' >/dev/null 2>&1; then
    echo "== creating $VENV with ${PY_PKGS[*]}"
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1; then
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip
        fi
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "${PY_PKGS[@]}" \
        || echo "== could not create $VENV: impacket/aiowmi tests skip (or fail under CI=true)" >&2
else
    echo "== python venv: $VENV has impacket and aiowmi"
fi

runner=(cargo nextest run --workspace --no-fail-fast)
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "== installing cargo-nextest"
    if ! cargo install cargo-nextest --locked; then
        echo "== cargo-nextest could not be installed; falling back to cargo test" >&2
        runner=(cargo test --workspace --no-fail-fast)
    fi
fi

status=0
if [[ "${runner[1]}" == "nextest" ]]; then
    # nextest does not run doctests; run them first so that the runner's
    # summary is the last thing printed.
    echo "== running: cargo test --workspace --doc"
    cargo test --workspace --doc || status=$?
fi
echo "== running: ${runner[*]}"
"${runner[@]}" || status=$?
echo "== tests finished with status ${status}"
exit "${status}"
