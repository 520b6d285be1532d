#!/bin/sh
# Installs the Debian packages Spate builds, tests and runs with, if missing.
# Safe to run repeatedly: it asks apt only when something is not installed.
# Runs as root, or through sudo when available.
set -eu
PKGS="build-essential cmake ninja-build pkg-config clang-format libcmocka-dev libxxhash-dev python3"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
