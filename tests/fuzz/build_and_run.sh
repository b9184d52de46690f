#!/usr/bin/env bash
# Builds a libFuzzer target with clang (ASan + UBSan) and runs it from its seed corpus for a
# bounded time. Exits non-zero on any crash, sanitizer report, assertion or mismatch.
#
#   build_and_run.sh [seconds]                   the wire codec (wire_fuzz) for `seconds` (20)
#   build_and_run.sh --engine [seconds]          the coherence engine fed decoded peer messages
#                                                (engine_fuzz), for `seconds` (15)
#   build_and_run.sh --engine --runs N           engine_fuzz for N executions (a long run:
#                                                --runs 5000000 takes about an hour here)
#   build_and_run.sh --regen-corpus              rebuild the seed corpus in tests/fuzz/corpus/wire/
#
# VR_FUZZ_UNIT_TIMEOUT (seconds, default 10): how long one input may run before it counts as a
# hang. Raise it for long runs on a loaded machine, where a starved process can exceed 10 s.
#
# Sources are compiled directly (no CMake), so the target does not depend on the build tree's
# compiler. Outputs go to $VR_FUZZ_OUT (default: <repo>/build/fuzz): the binary, the working
# corpus (new inputs found; the committed corpus is only read) and crash artifacts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${VR_FUZZ_OUT:-$root/build/fuzz}"
cxx="${CXX_FUZZ:-}"
if [[ -z "$cxx" ]]; then
  for c in clang++-14 clang++; do
    if command -v "$c" >/dev/null; then cxx="$c"; break; fi
  done
fi
if [[ -z "$cxx" ]]; then
  echo "build_and_run.sh: clang++ not found (libFuzzer needs clang)" >&2
  exit 1
fi

srcs=(
  "$root/src/base/status.cc"
  "$root/src/base/assert.cc"
  "$root/src/wire/crc32c.cc"
  "$root/src/wire/frame.cc"
  "$root/src/wire/codec.cc"
  "$root/src/wire/peer.cc"
  "$root/src/wire/handshake.cc"
  "$root/src/wire/client.cc"
  "$root/src/wire/ping.cc"
  "$root/src/wire/meta.cc"
)
flags=(-std=c++20 -g -O1 -I "$root/src" -I "$here" -Wall -Wextra -Werror)
mkdir -p "$out"

if [[ "${1:-}" == "--regen-corpus" ]]; then
  "$cxx" "${flags[@]}" "$here/wire_corpus_gen.cc" "${srcs[@]}" -lfmt -o "$out/wire_corpus_gen"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$out/wire_corpus_gen" "$tmp"
  rm -rf "$here/corpus/wire"
  mkdir -p "$here/corpus/wire"
  for f in "$tmp"/*; do
    cp "$f" "$here/corpus/wire/$(sha1sum "$f" | cut -c1-40)"
  done
  echo "corpus: $(ls "$here/corpus/wire" | wc -l) files in $here/corpus/wire"
  exit 0
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
usage() {
  echo "usage: build_and_run.sh [seconds] | --engine [seconds | --runs N] | --regen-corpus" >&2
  exit 2
}

if [[ "${1:-}" == "--engine" ]]; then
  shift
  budget=(-max_total_time=15)
  if [[ "${1:-}" == "--runs" ]]; then
    [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
    budget=(-runs="$2")
  elif [[ -n "${1:-}" ]]; then
    [[ "$1" =~ ^[0-9]+$ ]] || usage
    budget=(-max_total_time="$1")
  fi
  "$cxx" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    "$here/engine_fuzz.cc" "${srcs[@]}" "$root/src/coherence/engine.cc" \
    "$root/src/coherence/directory.cc" "$root/src/coherence/table.cc" -lfmt \
    -o "$out/engine_fuzz"
  mkdir -p "$out/engine_corpus" "$out/engine_artifacts"
  exec "$out/engine_fuzz" "$out/engine_corpus" "$here/corpus/engine" \
    "${budget[@]}" -timeout="${VR_FUZZ_UNIT_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="$out/engine_artifacts/" -print_final_stats=1
fi

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  usage
fi

"$cxx" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  "$here/wire_fuzz.cc" "${srcs[@]}" -lfmt -o "$out/wire_fuzz"

mkdir -p "$out/corpus" "$out/artifacts"
# New inputs go to the first directory (the working corpus); the committed seeds are read only.
exec "$out/wire_fuzz" "$out/corpus" "$here/corpus/wire" \
  -max_total_time="$seconds" -timeout="${VR_FUZZ_UNIT_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len=20000 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1
