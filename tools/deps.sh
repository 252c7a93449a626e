#!/usr/bin/env bash
# Install the Debian packages that are missing, and only those.
# Usage: deps.sh BUILD_PKG... [-- TEST_PKG...]
set -euo pipefail

missing=()
for pkg in "$@"; do
	[ "$pkg" = "--" ] && continue
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done

# node and npm may come from another source than Debian's packages;
# a working binary on PATH is enough.
filtered=()
for pkg in "${missing[@]}"; do
	case "$pkg" in
	nodejs) command -v node >/dev/null && continue ;;
	npm) command -v npm >/dev/null && continue ;;
	esac
	filtered+=("$pkg")
done

if [ ${#filtered[@]} -eq 0 ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${filtered[*]}" >&2
	echo "deps: run as root to install them" >&2
	exit 1
fi

echo "deps: installing ${filtered[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${filtered[@]}"
