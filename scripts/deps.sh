#!/usr/bin/env bash
# deps.sh installs the Debian packages named on the command line that are not
# installed yet. It is silent when nothing is missing. As root it installs them
# with apt-get; otherwise it prints the command to run and exits 1.
#
# usage: scripts/deps.sh pkg1 pkg2 ...
set -euo pipefail

missing=()
for pkg in "$@"; do
	# dpkg-query fails for a package it has never heard of; treat that as missing.
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
	echo "missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "installing Debian packages: ${missing[*]}" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
