#!/usr/bin/env bash
# model/run.sh -- exhaustive SPIN verification of the coherence protocol model (vremote.pml).
#
#   model/run.sh              correct model (3 configurations), planted bugs, coverage probes,
#                             doc claims (about 2.5 minutes on 2 idle cores, 1.6 GB)
#   model/run.sh --quick      correct model and planted bugs only
#   model/run.sh --extended   also 4 larger configurations (about 7 more minutes, 4 GB)
#
# Prints one line per run and exits 0 only if every correct configuration is verified with
# 0 errors (complete search: no depth truncation, no memory bound hit, no bitstate) and every
# planted bug, coverage probe and false doc claim is found.  Builds pan in a temporary
# directory (kept if KEEP=1).  Needs spin and a C compiler (Debian: apt-get install spin gcc).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
model=$here/vremote.pml
quick=0
extended=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    --extended) extended=1 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

for tool in spin "${CC:-gcc}" timeout; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: '$tool' not found (Debian: apt-get install spin gcc coreutils)" >&2
    exit 2
  fi
done
cc=${CC:-gcc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vremote-model.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then
  echo "run.sh: keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi

# The workload bound of the main verification (see vremote.pml): nodes 0, 1, 2 may send 3, 3
# and 2 requests, and 2 writes happen in all.  Mutations and probes use the same bounds.
main_bounds="-DOPS0=3 -DOPS1=3 -DOPS2=2 -DMAXW=2"
memlim_mb=6144      # pan stops (and the run fails) if the search needs more
failures=0
runs=0

field() {  # field REGEX-with-one-group FILE: print the first capture, or '?'
  sed -nE "s/$1/\1/p" "$2" | head -n 1 | grep . || echo '?'
}

# verify NAME EXPECT TIMEOUT OPT SPIN_FLAGS
#   EXPECT: pass         -> must finish a complete search with 0 errors
#           "TAG|TAG..." -> must report an error whose property tag matches
verify() {
  local name=$1 expect=$2 limit=$3 opt=$4 flags=$5
  local dir=$tmp/${name//\//_}
  mkdir -p "$dir"
  cp "$model" "$dir/vremote.pml"
  runs=$((runs + 1))
  local start=$SECONDS
  # shellcheck disable=SC2086
  if ! (cd "$dir" && spin $flags -a vremote.pml >spin.log 2>&1); then
    printf 'FAIL %-28s spin -a failed: %s\n' "$name" "$(head -n 3 "$dir/spin.log" | tr '\n' ' ')"
    failures=$((failures + 1)); return
  fi
  # -DSAFETY: safety properties only (assertions, invalid end states); -DCOLLAPSE: lossless
  # state compression (the search stays exhaustive; no BITSTATE / hash compaction).
  if ! (cd "$dir" && timeout 300 "$cc" "$opt" -w -DSAFETY -DCOLLAPSE -DMEMLIM=$memlim_mb \
          -o pan pan.c >cc.log 2>&1); then
    printf 'FAIL %-28s compiling pan failed: %s\n' "$name" "$(head -n 3 "$dir/cc.log" | tr '\n' ' ')"
    failures=$((failures + 1)); return
  fi
  local rc=0 TIMEFORMAT='%U %S'
  # -m: max depth (the real depth is ~40; hitting it is reported and fails the run)
  # -w25: hash table of 2^25 slots (2^20 for runs expected to fail early);
  # -q: channels must be empty in end states
  local hash=-w25
  [[ $expect == pass ]] || hash=-w20   # a counterexample is found within a few 10^4 states
  { time (cd "$dir" && timeout "$limit" ./pan -m100000 $hash -q >pan.out 2>&1) ; } \
    2>"$dir/cpu.txt" || rc=$?
  local cpu
  cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$dir/cpu.txt" 2>/dev/null || echo '?')
  local out=$dir/pan.out
  local states trans depth errors ptime mem tag
  states=$(field '^ *([0-9]+) states, stored.*' "$out")
  trans=$(field '^ *([0-9.e+]+) transitions \(.*' "$out")
  depth=$(field '.*depth reached ([0-9]+).*' "$out")
  errors=$(field '.*errors: ([0-9]+).*' "$out")
  ptime=$(field '^pan: elapsed time ([0-9.e+]+) seconds.*' "$out")
  mem=$(field '^ *([0-9.]+)[[:space:]]+total actual memory usage.*' "$out")
  tag=$(field '^pan:1: assertion violated \(+([A-Z][A-Z0-9_]*).*' "$out")
  if [[ $tag == '?' ]] && grep -q '^pan:1: invalid end state' "$out"; then tag=P3_ENDSTATE; fi
  local stats="states=$states transitions=$trans depth=$depth errors=$errors cpu=${cpu}s search=${ptime}s mem=${mem}MB (wall incl. build $((SECONDS - start))s)"
  local ok=1 why=""
  if [[ $rc == 124 ]]; then
    ok=0; why="timed out after ${limit}s"
  elif [[ $expect == pass ]]; then
    if [[ $errors != 0 || $rc != 0 ]]; then
      ok=0; why="expected 0 errors: $(grep -m1 -E '^pan:1:|^pan: ' "$out" | cut -c1-160)"
    elif grep -qE 'max search depth too small|MEMLIM|out of memory|Search not completed' "$out"; then
      ok=0; why="search incomplete: $(grep -m1 -E 'max search depth too small|MEMLIM|out of memory|Search not completed' "$out")"
    fi
  else
    if [[ $errors == '?' || $errors == 0 ]]; then
      ok=0; why="expected a violation of $expect, none found"
    elif ! [[ $tag =~ ^($expect)$ ]]; then
      ok=0; why="expected a violation of $expect, got $tag: $(grep -m1 '^pan:1:' "$out" | cut -c1-160)"
    else
      why="found $tag"
    fi
  fi
  if [[ $ok == 1 ]]; then
    printf 'ok   %-28s %-16s %s\n' "$name" "${why:-verified}" "$stats"
  else
    printf 'FAIL %-28s %s | %s\n' "$name" "$why" "$stats"
    failures=$((failures + 1))
  fi
}

echo "== correct model: exhaustive verification (P1 SWMR, P2 data value, P3 no deadlock/stuck request, P4 directory invariants)"
verify correct/shared-loopback pass 600 -O2 "$main_bounds"
verify correct/split-loopback  pass 300 -O2 "-DSPLIT_LOOPBACK -DOPS_PER_NODE=2 -DMAXW=3"
verify correct/kernel-evictions pass 300 -O2 "-DKERNEL_EVICT -DOPS_PER_NODE=2 -DMAXW=2"
if [[ $extended == 1 ]]; then
  verify correct/kernel-evictions-332 pass 900 -O2 "-DKERNEL_EVICT $main_bounds"
  verify correct/split-loopback-332 pass 900 -O2 "-DSPLIT_LOOPBACK $main_bounds"
  verify correct/ops333-writes2     pass 1800 -O2 "-DOPS_PER_NODE=3 -DMAXW=2"
  verify correct/ops222-writes4     pass 900 -O2 "-DOPS_PER_NODE=2 -DMAXW=4"
fi

echo "== planted bugs: each must violate P1, P2 or P3 (auxiliary invariants off)"
headline='P1_SWMR|P2_DATA|P3_LIVE|P3_ENDSTATE'
for bug in BUG_SKIP_INV BUG_NO_WB BUG_DATAM_BY_FLAG BUG_SHARER_ANY BUG_IGNORE_STALE_INV BUG_NO_DRAIN; do
  verify "bug/$bug" "$headline" 120 -O0 "$main_bounds -DNO_AUX_INV -D$bug"
done
verify bug/BUG_HELD_ACK_FIRST "$headline" 120 -O0 "$main_bounds -DKERNEL_EVICT -DNO_AUX_INV -DBUG_HELD_ACK_FIRST"

if [[ $quick == 0 ]]; then
  echo "== coverage: every race of doc section 6 is reached within the bounds"
  probes=(
    "1:6.1-Inv-in-SM_AD"
    "12:6.1-DataM-without-data"
    "2:6.2-Inv-in-I"
    "3:6.2-PutS-after-Inv"
    "4:6.3-RecallToI-in-MI_A"
    "5:6.3-RecallAck-after-PutM"
    "6:6.4-RecallToS-in-MI_A"
    "7:6.5-Inv-in-IS_D"
    "8:6.5-Inv-in-IM_AD"
    "9:6.6-two-requests-waiting"
    "10:6.7-home-recalls-remote-M"
    "11:6.8-GetS-behind-own-PutS"
    "15:both-pages-in-transaction"
    "14:quiescent-after-all-writes"
  )
  for p in "${probes[@]}"; do
    verify "reach/${p#*:}" PROBE_HIT 120 -O0 "$main_bounds -DPROBE=${p%%:*}"
  done
  verify reach/6.2-Inv-in-SI_K    PROBE_HIT 120 -O0 "$main_bounds -DKERNEL_EVICT -DPROBE=16"
  verify reach/6.3-Recall-in-MI_K PROBE_HIT 120 -O0 "$main_bounds -DKERNEL_EVICT -DPROBE=17"

  echo "== doc claims that are false (a counterexample is expected)"
  verify doc/7.2-literal       P4_DIR    120 -O0 "$main_bounds -DDOC_INV72_LITERAL"
  verify doc/7.3-literal       P4_DIR    120 -O0 "$main_bounds -DDOC_INV73_LITERAL"
  verify doc/7.3-gap-recall-to-S P4_DIR  120 -O0 "$main_bounds -DDOC_INV73_GAP_A"
  verify doc/7.3-gap-SM_AD-grant P4_DIR  120 -O0 "$main_bounds -DDOC_INV73_GAP_B"
  verify doc/sharers-superset  DOC_CLAIM 120 -O0 "$main_bounds -DDOC_SUPERSET"
fi

if [[ $failures == 0 ]]; then
  echo "model: all $runs runs as expected"
  exit 0
fi
echo "model: $failures of $runs runs FAILED"
exit 1
