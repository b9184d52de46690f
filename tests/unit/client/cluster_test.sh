#!/bin/sh
# `vremote cluster up` and `cluster down` with fake_vremoted standing in for the daemon: the
# directory layout, the secret's mode, pid files, the wait for links and mounts (the fake mounts a
# tmpfs at node.mount, so this runs as root), the refusal to start over a running cluster, a
# daemon that fails at start (reported with its log, the others stopped), a mount that never
# comes, SIGTERM on the way down and the mount a "crashed" daemon left behind, detached by
# cluster down; --no-mount. Usage: cluster_test.sh VREMOTE FAKE_VREMOTED
set -eu
vremote=$1
fake=$2
dir=$(mktemp -d /tmp/vr_cluster_test.XXXXXX)
trap '"$vremote" cluster down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in "$dir"/out "$dir"/err "$dir"/n*/vremoted.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
    done
    exit 1
}

# Whether anything is mounted at $1 (mountinfo's fifth field; our paths have no spaces).
mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }
no_mounts_left() {
    if grep -q " $dir/" /proc/self/mountinfo; then fail "$1: mounts left under $dir"; fi
}

# n2 will leave its mount behind, as a daemon that crashed would.
FAKE_VREMOTED_LEAVE_MOUNT=n2 "$vremote" cluster up --nodes 3 --dir "$dir" --vremoted "$fake" \
    --wait 20 >"$dir/out" 2>"$dir/err" || fail "cluster up exited with $?"
grep -q "^cluster of 3 nodes up in $dir" "$dir/out" || fail "no summary"
grep -q "^mounted: $dir/nK/mnt (tmpfs)" "$dir/out" || fail "no mount summary"
[ "$(stat -c %a "$dir/secret")" = 600 ] || fail "secret mode $(stat -c %a "$dir/secret")"
[ "$(stat -c %s "$dir/secret")" = 32 ] || fail "secret size"
pids=""
for k in 1 2 3; do
    n="$dir/n$k"
    [ -d "$n/export" ] && [ -d "$n/data" ] && [ -f "$n/vremote.toml" ] || fail "n$k layout"
    pid=$(cat "$n/vremoted.pid") || fail "n$k has no pid file"
    kill -0 "$pid" || fail "n$k (pid $pid) is not running"
    grep -q "fake_vremoted n$k: serving $n/data/vremoted.sock" "$n/vremoted.log" || fail "n$k log"
    mounted "$n/mnt" || fail "n$k: nothing mounted at $n/mnt"
    pids="$pids $pid"
done
grep -q '^client_socket = "'"$dir"'/n2/data/vremoted.sock"' "$dir/n2/vremote.toml" ||
    fail "n2 config"
grep -q '^mount = "'"$dir"'/n2/mnt"' "$dir/n2/vremote.toml" || fail "n2 config: no mount"

"$vremote" status --config "$dir/n2/vremote.toml" >"$dir/out" 2>"$dir/err" || fail "status"
grep -q "n3 .* up" "$dir/out" || fail "status shows no n3 up"

if "$vremote" cluster up --nodes 3 --dir "$dir" --vremoted "$fake" >"$dir/out" 2>"$dir/err"; then
    fail "a second cluster up over a running cluster succeeded"
fi
grep -q "already holds a running cluster: n1 (pid" "$dir/err" || fail "no refusal message"

"$vremote" cluster down --dir "$dir" >"$dir/out" 2>"$dir/err" || fail "cluster down"
grep -q "^stopped n1 n2 n3$" "$dir/out" || fail "cluster down output"
for k in 1 2 3; do
    [ ! -e "$dir/n$k/vremoted.pid" ] || fail "n$k pid file left behind"
    grep -q "fake_vremoted n$k: exiting on signal 15" "$dir/n$k/vremoted.log" || fail "n$k: no SIGTERM"
done
# n2's mount, left behind, is detached with a warning; the others unmounted themselves.
grep -q "warning: $dir/n2/mnt (tmpfs) was still mounted" "$dir/err" || fail "no detach warning"
[ "$(grep -c "still mounted" "$dir/err")" = 1 ] || fail "detach warnings for other nodes"
no_mounts_left "cluster down"
"$vremote" cluster down --dir "$dir" >"$dir/out" 2>"$dir/err" || fail "second cluster down"
grep -q "^no running nodes in $dir" "$dir/out" || fail "second cluster down output"

# A node that fails at start: reported with its log, and the nodes that started are stopped.
if FAKE_VREMOTED_FAIL=n2 "$vremote" cluster up --nodes 3 --dir "$dir" --vremoted "$fake" \
    --wait 20 >"$dir/out" 2>"$dir/err"; then
    fail "cluster up succeeded with a failing node"
fi
grep -q "n2's vremoted exited with status 3 before the cluster came up" "$dir/err" ||
    fail "no failure report"
grep -q "fake_vremoted n2: failing on purpose" "$dir/err" || fail "no log tail in the report"
for k in 1 2 3; do
    [ ! -e "$dir/n$k/vremoted.pid" ] || fail "n$k pid file left after a failed start"
done
no_mounts_left "a failed start"

# A node whose links never come up: the wait ends, the report names the node and its links.
# (3 s, not 1: on a loaded machine the fakes' status sockets may not answer within 1 s, and the
# report then names that instead of the links.)
if FAKE_VREMOTED_ISOLATED=n3 "$vremote" cluster up --nodes 3 --dir "$dir" --vremoted "$fake" \
    --wait 3 >"$dir/out" 2>"$dir/err"; then
    fail "cluster up succeeded with an isolated node"
fi
grep -q "not every link and mount came up within 3 s" "$dir/err" || fail "no timeout report"
grep -q "n3: links not up: n1 connecting, n2 connecting" "$dir/err" || fail "no link report"
grep -q "n1:" "$dir/err" && fail "n1 reported although its links were up"
for k in 1 2 3; do
    [ ! -e "$dir/n$k/vremoted.pid" ] || fail "n$k pid file left after a timeout"
    grep -q "fake_vremoted n$k: exiting on signal 15" "$dir/n$k/vremoted.log" || fail "n$k left running"
done
no_mounts_left "a timeout"

# A mount that never comes: the wait ends and names the node and its mount point.
if FAKE_VREMOTED_NO_MOUNT=n3 "$vremote" cluster up --nodes 3 --dir "$dir" --vremoted "$fake" \
    --wait 1 >"$dir/out" 2>"$dir/err"; then
    fail "cluster up succeeded without n3's mount"
fi
grep -q "n3: nothing is mounted at $dir/n3/mnt yet" "$dir/err" || fail "no mount report"
grep -q "n[12]:" "$dir/err" && fail "n1 or n2 reported although they were ready"
no_mounts_left "a missing mount"

# --no-mount: no node.mount, nothing mounted, the rest as before.
rm -rf "$dir"/n*
"$vremote" cluster up --nodes 2 --dir "$dir" --vremoted "$fake" --no-mount --wait 20 \
    >"$dir/out" 2>"$dir/err" || fail "cluster up --no-mount exited with $?"
grep -q "^mounted:" "$dir/out" && fail "--no-mount reports a mount"
grep -q "^mount" "$dir/n1/vremote.toml" && fail "--no-mount config has a mount"
[ ! -e "$dir/n1/mnt" ] || fail "--no-mount made a mount point"
no_mounts_left "--no-mount"
"$vremote" cluster down --dir "$dir" >"$dir/out" 2>"$dir/err" || fail "cluster down (--no-mount)"
grep -q "^stopped n1 n2$" "$dir/out" || fail "cluster down output (--no-mount)"
echo "ok"
