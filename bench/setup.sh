#!/usr/bin/env bash
# Installs what bench/run needs from Debian packages. Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(fio iperf3 sshfs openssh-server openssh-client glusterfs-server glusterfs-client gnuplot-nox
      iproute2 fuse3 util-linux procps jq)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bench/setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Do not let package scripts start services (sshd, glusterd) on the host: bench/run starts
  # its own inside the cluster's namespaces.
  policy=/usr/sbin/policy-rc.d; made_policy=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; made_policy=1; fi
  trap '[[ $made_policy == 1 ]] && rm -f "$policy"' EXIT
  timeout 600 apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { timeout 300 apt-get update >/dev/null && timeout 600 apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi
# Host services the packages may have started are not wanted.
for s in glusterd ssh; do systemctl is-active -q "$s" 2>/dev/null && systemctl stop "$s" || true; done
exit 0
