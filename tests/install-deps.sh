#!/bin/bash
# Install what xenbackd builds and tests with, from Debian 12 packages.
# Idempotent; quick when everything is there already.
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc libc6-dev
      libxen-dev liburing-dev libaio-dev libpci-dev libevent-dev
      libsystemd-dev libjson-c-dev
      xen-utils-4.17 xenstore-utils
      fio iproute2 util-linux e2fsprogs)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# xen-utils' postinst complains that there is no hypervisor; it still
	# succeeds.
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
