#!/usr/bin/env bash
# Install everything ftptrace and its tests need on a fresh Debian machine (run as root).
# Idempotent: re-running only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(vsftpd tcpdump tshark iptables nftables lftp curl conntrack iproute2 openssl chromium)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # tshark asks whether non-root users may capture: answer for it.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# vsftpd's Debian service would hold port 21 in the root namespace; the lab runs its own copies.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now vsftpd >/dev/null 2>&1 || true; fi
pkill -x vsftpd 2>/dev/null || true

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
