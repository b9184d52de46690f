#!/usr/bin/env bash
# Builds the wire codec's libFuzzer target with clang (ASan + UBSan) and runs it from the seed
# corpus for a bounded time. Exits non-zero on any crash, sanitizer report or mismatch.
#
#   build_and_run.sh [seconds]      run for `seconds` (default 20)
#   build_and_run.sh --regen-corpus rebuild the seed corpus in tests/fuzz/corpus/wire/
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

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: build_and_run.sh [seconds] | --regen-corpus" >&2
  exit 2
fi

"$cxx" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  "$here/wire_fuzz.cc" "${srcs[@]}" -lfmt -o "$out/wire_fuzz"

mkdir -p "$out/corpus" "$out/artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
# New inputs go to the first directory (the working corpus); the committed seeds are read only.
exec "$out/wire_fuzz" "$out/corpus" "$here/corpus/wire" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=20000 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1
