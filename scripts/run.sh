#!/usr/bin/env bash
# The main job: installs what is needed, builds, brings up a local 3-node vremote cluster and
# shows coherence at work (a write on one node read back on the others, with each node's page
# states before and after). On a terminal the cluster then stays up until Enter or Ctrl-C;
# otherwise (CI, a pipe) it is stopped at once. Usage: scripts/run.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
bin=$PWD/build/bin
dir=${1:-/tmp/vremote-demo}
vremote() { "$bin/vremote" "$@"; }

if [[ -e $dir/n1/vremoted.pid ]]; then
  vremote cluster down --dir "$dir" >/dev/null 2>&1 || true
fi
rm -rf "$dir"
echo
echo "== bringing up 3 nodes in $dir =="
vremote cluster up --nodes 3 --dir "$dir"
trap 'echo; echo "== stopping the cluster =="; vremote cluster down --dir "$dir"' EXIT
cfg() { echo "$dir/n$1/vremote.toml"; }

echo
echo "== n1's view of the cluster =="
vremote --config "$(cfg 1)" status

echo
mnt() { echo "$dir/n$1/mnt"; }
pages() { for k in 1 2 3; do printf '  n%s: ' "$k"; vremote --config "$(cfg $k)" pages n1/demo.txt | head -1; done; }
echo "== each node mounts the whole cluster: $(mnt 2) holds =="
ls "$(mnt 2)"

echo
echo "== n1 writes a file in its own volume, through its mount; n2 and n3 read it with cat =="
printf 'version 1: written on n1\n' > "$(mnt 1)/n1/demo.txt"
for k in 2 3; do printf 'n%s: cat %s -> ' "$k" "$(mnt $k)/n1/demo.txt"; cat "$(mnt $k)/n1/demo.txt"; done
echo "page states (M: modified here, S: shared copy, I: not cached):"; pages

echo
echo "== n2 overwrites it: every other copy (the kernels' page caches included) is invalidated first =="
printf 'version 2: written on n2\n' | dd of="$(mnt 2)/n1/demo.txt" conv=notrunc status=none
echo "page states right after the write (closing made it durable: n2 keeps a shared copy):"; pages
for k in 1 3; do printf 'n%s: cat -> ' "$k"; cat "$(mnt $k)/n1/demo.txt"; done
echo "page states after the reads:"; pages

echo
echo "== the same through the native API and the command line =="
printf 'version 3: written on n3\n' | vremote --config "$(cfg 3)" put n1/demo.txt
printf 'n1 get -> '; vremote --config "$(cfg 1)" get n1/demo.txt
vremote --config "$(cfg 3)" sync n1/demo.txt
printf 'the origin file on n1'"'"'s disk, after sync: '; cat "$dir/n1/export/demo.txt"

echo
echo "== n1's counters =="
vremote --config "$(cfg 1)" stats | grep -E 'fetch|served|invalidations|writebacks|bytes_sent'

if [[ -t 0 && -t 1 ]]; then
  echo
  echo "The cluster is up. Try, from another terminal:"
  echo "  cat $(mnt 2)/n1/demo.txt; echo hello > $(mnt 3)/n2/hello.txt; cat $(mnt 1)/n2/hello.txt"
  echo "  $bin/vremote --config $(cfg 2) get n1/demo.txt"
  echo "  echo hi | $bin/vremote --config $(cfg 3) put n2/hello.txt"
  read -r -p "Press Enter to stop it. " _ || true
fi
