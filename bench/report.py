#!/usr/bin/python3
"""bench/report.py RAW.jsonl OUTDIR: the report of a bench/run (report.md, PNG plots via gnuplot).

Each figure is the median of its runs with min-max, and a ratio to the baseline measured in the
same run and CPU mode."""
import json
import os
import statistics
import subprocess
import sys

raw, out = sys.argv[1], sys.argv[2]
recs, notes, meta, meta_end, rss = [], {}, {}, {}, None
for line in open(raw):
    d = json.loads(line)
    if "meta" in d:
        meta = d["meta"]
    elif "meta_end" in d:
        meta_end = d["meta_end"]
    elif "note" in d:
        notes[d["note"]] = d["value"]
    elif d.get("w") == "rss":
        rss = d
    else:
        recs.append(d)
modes = []
for r in recs:
    if r["mode"] not in modes:
        modes.append(r["mode"])
errors = [r for r in recs if "error" in r]


def vals(mode, w, sys_, key):
    return [r["r"][key] for r in recs
            if r["mode"] == mode and r["w"] == w and r["sys"] == sys_ and "r" in r and key in r["r"]]


class Fig:
    def __init__(self, v):
        self.v = v
        self.ok = bool(v)
        self.med = statistics.median(v) if v else float("nan")
        self.lo = min(v) if v else float("nan")
        self.hi = max(v) if v else float("nan")


def fig(mode, w, sys_, key, scale=1.0):
    return Fig([x * scale for x in vals(mode, w, sys_, key)])


def fmt(f, unit="", digits=None):
    if not f.ok:
        return "n/a"
    d = digits if digits is not None else (0 if abs(f.med) >= 100 else 1 if abs(f.med) >= 10 else 2)
    return f"**{f.med:.{d}f}**{unit} ({f.lo:.{d}f}–{f.hi:.{d}f})"


def ratio(f, base, digits=2):
    if not f.ok or not base.ok or base.med == 0:
        return "n/a"
    return f"{f.med / base.med:.{digits}f}x ({f.lo / base.med:.{digits}f}–{f.hi / base.med:.{digits}f})"


GB = 1e9
peers = [s for s in ["sshfs", "gluster_default", "gluster_coherent"]
         if any(r["sys"] == s for r in recs)]
systems = ["vremote"] + peers
NAMES = {"vremote": "vremote", "vremote_home": "vremote home-local (no network)", "sshfs": "sshfs", "gluster_default": "GlusterFS (defaults)",
         "gluster_coherent": "GlusterFS (cache-invalidation on)", "tmpfs": "local tmpfs"}
MODE_NAMES = {"idle": "idle (default)", "poll": "POLL (/dev/cpu_dma_latency = 0)"}

# ---- per-mode figures ------------------------------------------------------------------------
F = {}
class Figs(dict):
    def __missing__(self, key):
        return Fig([])


for m in modes:
    f = Figs()
    f["memcpy"] = fig(m, "limits", "memcpy_1M", "bytes_per_s", 1 / GB)
    f["tcp"] = fig(m, "limits", "tcp_stream", "bytes_per_s", 1 / GB)
    f["pp50"] = fig(m, "limits", "tcp_pingpong_4k", "p50_us")
    f["pp99"] = fig(m, "limits", "tcp_pingpong_4k", "p99_us")
    f["fuse50"] = fig(m, "limits", "fuse_rt", "p50_us")
    f["tmp_seq"] = fig(m, "limits", "tmpfs_seq_1M", "bytes_per_s", 1 / GB)
    f["tmp_rand"] = fig(m, "limits", "tmpfs_rand_4k", "ops_per_s", 1e-3)
    # the warm tmpfs figures of the warm-read workload (same tool, same sizes)
    for s in ["tmpfs", "vremote_home"] + systems:
        f[("wseq", s)] = fig(m, "warm_seq_1M", s, "bytes_per_s", 1 / GB)
        f[("wrand", s)] = fig(m, "warm_rand_4k", s, "ops_per_s", 1e-3)
        f[("cseq", s)] = fig(m, "cold_seq_1M", s, "bytes_per_s", 1 / GB)
        f[("m50", s)] = fig(m, "cold_miss_4k", s, "p50_us")
        f[("m99", s)] = fig(m, "cold_miss_4k", s, "p99_us")
        for sm in ["fresh", "held", "fresh_fsync", "held_fsync"]:
            f[("stale", sm, s)] = fig(m, "stale_" + sm, s, "stale")
    ks = sorted({int(r["sys"][1:]) for r in recs if r["w"] == "write_shared"})
    f["ks"] = ks
    for k in ks:
        f[("w50", k)] = fig(m, "write_shared", f"k{k}", "p50_us")
        f[("w99", k)] = fig(m, "write_shared", f"k{k}", "p99_us")
    f["own"] = fig(m, "ownership_pingpong", "vremote", "transfers_per_s")
    f["rec"] = fig(m, "recovery", "vremote", "ms")
    # the round-trip bound of a 4 KiB miss: TCP ping-pong + one FUSE round trip, per run
    pp, fr = vals(m, "limits", "tcp_pingpong_4k", "p50_us"), vals(m, "limits", "fuse_rt", "p50_us")
    f["bound"] = Fig([a + b for a, b in zip(pp, fr)])
    F[m] = f

# ---- core bench ------------------------------------------------------------------------------
core = None
core_path = os.path.join(out, "core_bench.json")
if os.path.exists(core_path):
    try:
        core = json.load(open(core_path))
    except Exception as e:  # noqa: BLE001
        core = {"error": str(e)}


def core_dir_bytes():
    """[(scenario, bytes per tracked page)] from vr_core_bench's dir_bytes_per_page counters."""
    if not core or "benchmarks" not in core:
        return []
    return [(b["name"], b["dir_bytes_per_page"]) for b in core["benchmarks"] if "dir_bytes_per_page" in b]


# ---- targets ---------------------------------------------------------------------------------
targets = []  # (target, mode, measured, limit text, pass bool or None, margin text)


def target(name, m, value, limit, ok, margin):
    targets.append((name, m, value, limit, ok, margin))


for m in modes:
    f = F[m]
    for key, label, base in [("wrand", "warm 4 KiB random reads", f[("wrand", "tmpfs")]),
                             ("wseq", "warm 1 MiB sequential reads", f[("wseq", "tmpfs")])]:
        v = f[(key, "vremote")]
        if v.ok and base.ok:
            r = v.med / base.med
            target(f"{label} >= 0.9x local tmpfs", m, f"{r:.2f}x", ">= 0.90x", r >= 0.9,
                   f"{(r / 0.9 - 1) * 100:+.0f}%")
    v, t = f[("cseq", "vremote")], f["tcp"]
    if v.ok and t.ok:
        r = v.med / t.med
        target("cold 1 GiB sequential >= 0.5x raw TCP stream", m, f"{r:.2f}x ({v.med:.2f} vs {t.med:.2f} GB/s)",
               ">= 0.50x", r >= 0.5, f"{(r / 0.5 - 1) * 100:+.0f}%")
    for gs in ["gluster_default", "gluster_coherent"]:
        g = f[("cseq", gs)]
        if v.ok and g.ok:
            r = v.med / g.med
            target(f"cold 1 GiB sequential >= 2x {NAMES[gs]}", m, f"{r:.2f}x ({v.med:.2f} vs {g.med:.2f} GB/s)",
                   ">= 2.00x", r >= 2, f"{(r / 2 - 1) * 100:+.0f}%")
    v, b = f[("m50", "vremote")], f["bound"]
    if v.ok and b.ok:
        r = v.med / b.med
        target("4 KiB cold miss p50 <= 1.3x (TCP ping-pong + 1 FUSE round trip)", m,
               f"{r:.2f}x ({v.med:.1f} vs {b.med:.1f} µs)", "<= 1.30x", r <= 1.3,
               f"{(1 - r / 1.3) * 100:+.0f}% headroom" if r <= 1.3 else f"{(r / 1.3 - 1) * 100:.0f}% over")
    for gs in ["gluster_default", "gluster_coherent"]:
        g = f[("m50", gs)]
        if v.ok and g.ok:
            r = v.med / g.med
            target(f"4 KiB cold miss p50 <= 0.6x {NAMES[gs]}", m, f"{r:.2f}x ({v.med:.1f} vs {g.med:.1f} µs)",
                   "<= 0.60x", r <= 0.6,
                   f"{(1 - r / 0.6) * 100:+.0f}% headroom" if r <= 0.6 else f"{(r / 0.6 - 1) * 100:.0f}% over")
    if 1 in f["ks"] and 3 in f["ks"]:
        a, c = f[("w50", 1)], f[("w50", 3)]
        if a.ok and c.ok:
            g = c.med / a.med - 1
            target("write latency to a shared page grows <= 30% from k=1 to k=3", m,
                   f"{g * 100:+.0f}% ({a.med:.1f} → {c.med:.1f} µs p50)", "<= +30%", g <= 0.3,
                   f"{(0.3 - g) * 100:+.0f} points")
    SM = ["fresh", "held", "fresh_fsync", "held_fsync"]
    st = sum(sum(vals(m, "stale_" + sm, "vremote", "stale")) for sm in SM)
    n = sum(sum(vals(m, "stale_" + sm, "vremote", "rounds")) for sm in SM)
    if n:
        target("zero stale reads for vremote", m, f"{st} stale in {n} reads", "0", st == 0,
               "exact" if st == 0 else f"{st} stale")
dirb = core_dir_bytes()
for name, bpp in dirb:
    target(f"directory metadata <= 16 B/page ({name.split('/')[1]})", "-", f"{bpp:.1f} B/page (vr_core_bench)",
           "<= 16", bpp <= 16, f"{(1 - bpp / 16) * 100:+.0f}%" if bpp <= 16 else f"{(bpp / 16 - 1) * 100:.0f}% over")
if not dirb:
    target("directory metadata <= 16 B/page", "-", "vr_core_bench not built" if core is None else
           "vr_core_bench gave no dir_bytes_per_page counter", "<= 16", None, "")

# ---- plots (gnuplot) -------------------------------------------------------------------------
plots = []


def gnuplot(name, title, ylabel, rows, cols, logy=False):
    """rows: [(label, [Fig per col])]; clustered bars with min-max error bars."""
    dat = os.path.join(out, name + ".dat")
    with open(dat, "w") as fh:
        for label, figs in rows:
            parts = [f'"{label}"']
            for fg in figs:
                parts += ([f"{fg.med:g}", f"{fg.lo:g}", f"{fg.hi:g}"] if fg.ok else ["NaN", "NaN", "NaN"])
            fh.write(" ".join(parts) + "\n")
    using = ", ".join(
        f"'{dat}' using {2 + 3 * i}:{3 + 3 * i}:{4 + 3 * i}:xtic(1) title '{c}'" for i, c in enumerate(cols))
    script = f"""set terminal pngcairo size 1000,560 noenhanced font ',10'
set bmargin 9
set rmargin 12
set output '{os.path.join(out, name + '.png')}'
set title '{title}'
set ylabel '{ylabel}'
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
set yrange [{'1' if logy else '0'}:*]
{'set logscale y' if logy else ''}
set xtics rotate by -20
plot {using}
"""
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True, timeout=60,
                       stderr=subprocess.PIPE)
        plots.append((name, title))
    except Exception as e:  # noqa: BLE001
        print("gnuplot failed for", name, e, file=sys.stderr)
    os.remove(dat)


mcols = [MODE_NAMES.get(m, m) for m in modes]
home = ["vremote_home"] if any(r["sys"] == "vremote_home" for r in recs) else []
if recs:
    gnuplot("warm_reads", "Warm reads as a ratio to local tmpfs (median, min-max)", "x local tmpfs",
            [(f"{NAMES[s]} {w}", [Fig([x / F[m][(k, 'tmpfs')].med for x in F[m][(k, s)].v])
                                   if F[m][(k, 'tmpfs')].ok else Fig([]) for m in modes])
             for s in systems for k, w in [("wrand", "4K rand"), ("wseq", "1M seq")]], mcols)
    gnuplot("cold_seq", "Cold sequential read of a file from the home (GB/s)", "GB/s",
            [("raw TCP stream", [F[m]["tcp"] for m in modes])] +
            [(NAMES[s], [F[m][("cseq", s)] for m in modes]) for s in systems + home], mcols)
    gnuplot("cold_miss", "4 KiB cold miss latency p50 (µs)", "µs",
            [("TCP ping-pong + FUSE rt", [F[m]["bound"] for m in modes])] +
            [(NAMES[s], [F[m][("m50", s)] for m in modes]) for s in systems + home], mcols)
    if F[modes[0]]["ks"]:
        gnuplot("write_shared", "pwrite latency p50 to a page shared by k readers (µs)", "µs",
                [(f"k={k}", [F[m][("w50", k)] for m in modes]) for k in F[modes[0]]["ks"]], mcols)

# ---- report ----------------------------------------------------------------------------------
L = []
p = L.append
f0 = F[modes[0]] if modes else {}
p(f"# vremote benchmarks — {meta.get('date', '?')}")
p("")
p(f"Commit `{meta.get('commit', '?')}`, kernel {meta.get('kernel')}, {meta.get('cpus')} vCPUs, "
  f"{meta.get('nodes')} nodes (`vremote cluster up --netns`), {meta.get('runs')} run(s) per figure, "
  f"modes: {', '.join(MODE_NAMES.get(m, m) for m in modes)}. "
  f"Run time {meta_end.get('secs', '?')} s; load average before {meta.get('load_before')}, "
  f"after {meta_end.get('load_after')}; failed measurements: {meta_end.get('fails', '?')}.")
p("")
p("Figures are **median** (min–max) over the runs; ratios are to the baseline measured in the same "
  "run and mode (median ÷ baseline median; the range is min and max ÷ the same baseline median).")
p("")
findings = os.path.join(out, "findings.md")  # hand-written after the run, if present
if os.path.exists(findings):
    p(open(findings).read().rstrip())
    p("")
p("## Summary (generated)")
p("")
for m in modes:
    f = F[m]
    p(f"**{MODE_NAMES.get(m, m)}:**")
    p("")
    def g(key, s=None):
        return f[(key, s)] if s else f[key]
    p(f"* Warm reads from a node's cache: 4 KiB random {fmt(g('wrand', 'vremote'), ' k IOPS')} = "
      f"{ratio(g('wrand', 'vremote'), g('wrand', 'tmpfs'))} local tmpfs; 1 MiB sequential "
      f"{fmt(g('wseq', 'vremote'), ' GB/s')} = {ratio(g('wseq', 'vremote'), g('wseq', 'tmpfs'))} tmpfs.")
    p(f"* Cold 1 GiB sequential read from the home: {fmt(g('cseq', 'vremote'), ' GB/s')} = "
      f"{ratio(g('cseq', 'vremote'), f['tcp'])} raw TCP ({fmt(f['tcp'], ' GB/s')})"
      + "".join(f"; {NAMES[s]} {fmt(g('cseq', s), ' GB/s')}" for s in peers)
      + (f"; vremote on the home's own mount (no network) {fmt(g('cseq', 'vremote_home'), ' GB/s')}"
         if g('cseq', 'vremote_home').ok else "") + ".")
    p(f"* 4 KiB cold miss: p50 {fmt(g('m50', 'vremote'), ' µs')}, p99 {fmt(g('m99', 'vremote'), ' µs')}; "
      f"bound (TCP ping-pong p50 {f['pp50'].med:.1f} µs + FUSE round trip p50 {f['fuse50'].med:.1f} µs) "
      f"= {f['bound'].med:.1f} µs → {ratio(g('m50', 'vremote'), f['bound'])}"
      + "".join(f"; {NAMES[s]} p50 {fmt(g('m50', s), ' µs')}" for s in peers)
      + (f"; a miss on the home's own mount (no network) p50 {fmt(g('m50', 'vremote_home'), ' µs')}"
         if g('m50', 'vremote_home').ok else "") + ".")
    if f["ks"]:
        p("* Write to a page shared by k readers, p50: " +
          ", ".join(f"k={k} {fmt(f[('w50', k)], ' µs')}" for k in f["ks"]) +
          f". Ownership ping-pong between two nodes: {fmt(f['own'], ' transfers/s')}.")
    p("* Stale reads (of " + str(int(statistics.median(vals(m, 'stale_fresh', 'vremote', 'rounds') or [0]))) +
      " rounds, per run): " + "; ".join(
          f"{NAMES[s]} fresh fd {fmt(f[('stale', 'fresh', s)], '', 0)}, held fd "
          f"{fmt(f[('stale', 'held', s)], '', 0)}, with fsync after each write: fresh "
          f"{fmt(f[('stale', 'fresh_fsync', s)], '', 0)}, held {fmt(f[('stale', 'held_fsync', s)], '', 0)}"
          for s in systems) + ".")
    p(f"* Recovery after SIGKILL of a node holding 16 pages in M: {fmt(f['rec'], ' ms')} until another node reads them.")
    p("")
if rss:
    kib = rss["rss_after_kib"]
    pages = rss["cached_pages"] or 1
    p(f"**Daemon memory at {pages:,} cached pages:** VmRSS {kib / 1024:.0f} MiB "
      f"(before the read {rss['rss_before_kib'] / 1024:.0f} MiB) = "
      f"{(kib - rss['rss_before_kib']) * 1024 / pages:.0f} bytes per cached 4 KiB page "
      f"({((kib - rss['rss_before_kib']) * 1024 / pages - 4096):.0f} B above the page's data).")
    p("")
if errors:
    p(f"**{len(errors)} measurement(s) failed:** " +
      ", ".join(f"{e['mode']}/{e['w']}/{e['sys']}#{e['run']} (exit {e['error']})" for e in errors) +
      " — see run.log.")
    p("")
if notes.get("gluster_failed"):
    p("**GlusterFS could not be set up in this run; see run.log.**")
    p("")

p("## Targets")
p("")
p("| target | mode | measured | limit | result | margin |")
p("|---|---|---|---|---|---|")
for name, m, value, limit, ok, margin in targets:
    res = "n/a" if ok is None else ("**pass**" if ok else "**MISS**")
    p(f"| {name} | {m} | {value} | {limit} | {res} | {margin} |")
p("")

p("## All figures")
p("")
for m in modes:
    f = F[m]
    p(f"### {MODE_NAMES.get(m, m)}")
    p("")
    p("| workload | system | median (min–max) | vs baseline |")
    p("|---|---|---|---|")
    p(f"| memcpy 1 MiB chunks | — | {fmt(f['memcpy'], ' GB/s')} | |")
    p(f"| raw TCP single stream n2→n1 (veth) | — | {fmt(f['tcp'], ' GB/s')} | |")
    p(f"| raw TCP ping-pong 64 B → 4 KiB, p50 | — | {fmt(f['pp50'], ' µs')} | |")
    p(f"| raw TCP ping-pong 64 B → 4 KiB, p99 | — | {fmt(f['pp99'], ' µs')} | |")
    p(f"| FUSE round trip (direct 1-byte read on the home's mount), p50 | — | {fmt(f['fuse50'], ' µs')} | |")
    for s in ["tmpfs"] + systems:
        p(f"| warm 4 KiB random reads | {NAMES[s]} | {fmt(f[('wrand', s)], ' k IOPS')} | "
          f"{ratio(f[('wrand', s)], f[('wrand', 'tmpfs')])} tmpfs |")
    for s in ["tmpfs"] + systems:
        p(f"| warm 1 MiB sequential reads | {NAMES[s]} | {fmt(f[('wseq', s)], ' GB/s')} | "
          f"{ratio(f[('wseq', s)], f[('wseq', 'tmpfs')])} tmpfs |")
    for s in systems:
        p(f"| cold 1 GiB sequential read | {NAMES[s]} | {fmt(f[('cseq', s)], ' GB/s')} | "
          f"{ratio(f[('cseq', s)], f['tcp'])} TCP stream |")
    if f[("cseq", "vremote_home")].ok:
        p(f"| cold 1 GiB sequential read | {NAMES['vremote_home']} | {fmt(f[('cseq', 'vremote_home')], ' GB/s')} | "
          f"{ratio(f[('cseq', 'vremote_home')], f['tcp'])} TCP stream |")
    for s in (["vremote_home"] if f[("m50", "vremote_home")].ok else []) + systems:
        p(f"| 4 KiB cold miss p50 | {NAMES[s]} | {fmt(f[('m50', s)], ' µs')} | "
          f"{ratio(f[('m50', s)], f['bound'])} (ping-pong + FUSE rt) |")
        p(f"| 4 KiB cold miss p99 | {NAMES[s]} | {fmt(f[('m99', s)], ' µs')} | "
          f"{ratio(f[('m99', s)], f['pp99'])} ping-pong p99 |")
    for k in f["ks"]:
        p(f"| pwrite to a page shared by k={k} readers, p50 | vremote | {fmt(f[('w50', k)], ' µs')} | "
          f"{ratio(f[('w50', k)], f[('w50', f['ks'][0])])} k={f['ks'][0]} |")
        p(f"| pwrite to a page shared by k={k} readers, p99 | vremote | {fmt(f[('w99', k)], ' µs')} | |")
    p(f"| ownership ping-pong (2 nodes alternately write one page) | vremote | {fmt(f['own'], ' transfers/s')} | |")
    for s in systems:
        for sm in ["fresh", "held", "fresh_fsync", "held_fsync"]:
            lab = {"fresh": "fresh fd", "held": "held fd", "fresh_fsync": "fresh fd, writer fsyncs",
                   "held_fsync": "held fd, writer fsyncs"}[sm]
            p(f"| stale reads per run, {lab} | {NAMES[s]} | {fmt(f[('stale', sm, s)], '', 0)} | |")
    p(f"| recovery after SIGKILL (16 M pages) | vremote | {fmt(f['rec'], ' ms')} | failure timeout 2000 ms |")
    p("")

if core is not None and "benchmarks" in core:
    p("## Coherence core (vr_core_bench)")
    p("")
    p(f"Binary: `{notes.get('core_bench_path', '?')}` (another engineer's bench/core; "
      f"run once, idle mode, `--benchmark_format=json`, raw output in core_bench.json).")
    p("")
    p("| benchmark | time per iteration | transitions/s | counters |")
    p("|---|---|---|---|")
    for b in core["benchmarks"]:
        extra = {k: v for k, v in b.items() if isinstance(v, (int, float)) and k not in (
            "iterations", "real_time", "cpu_time", "items_per_second", "repetitions", "repetition_index",
            "threads", "family_index", "per_family_instance_index")}
        p(f"| {b.get('name')} | {b.get('real_time', 0):.0f} {b.get('time_unit', '')} | "
          f"{b.get('transitions_per_s', b.get('items_per_second', 0)):,.0f} | "
          f"{', '.join(f'{k}={v:g}' for k, v in extra.items() if k != 'transitions_per_s')} |")
    p("")
else:
    p("## Coherence core (vr_core_bench)")
    p("")
    p("not built" if core is None else f"failed: {core}")
    p("")

p("## Commands")
p("")
p("The run: `" + meta.get("cmdline", "bench/run") + "` (as root; `bench/README.md`). What it runs, "
  "with `DIR` its cluster directory, `NS_K` = `/run/netns/vr-<tag>-nK`, `IP1` = n1's address:")
p("")
p("""```sh
bench/setup.sh                                    # Debian packages (idempotent)
vremote cluster up --netns --nodes 5 --cache-size 8GiB --dir DIR
nsenter --net=NS_1 vr_bench tcp-server --port 5201             # raw TCP peer, in n1's namespace
nsenter --net=NS_2 vr_bench tcp-stream --host IP1 --port 5201 --bytes 1G
nsenter --net=NS_2 vr_bench tcp-pingpong --host IP1 --port 5201 --req 64 --resp 4096 --count 3000
vr_bench memcpy --bytes 4G --chunk 1M
vr_bench fuse-rt --file DIR/n1/mnt/n1/one --count 3000         # O_RDWR (direct) 1-byte pread, home's mount
vr_bench seqread --file F ; vr_bench randread --file F --bs 4K --time 1          # warm (tmpfs, mounts)
vr_bench fill --file DIR/n1/export/cold-R --bytes 1G ; vr_bench seqread --file DIR/n2/mnt/n1/cold-R
vr_bench randread --file DIR/n2/mnt/n1/miss-R --bs 4K --unique --count 2000     # new 64 MiB file
vr_bench write-shared --writer DIR/n2/mnt/n1/shared --readers DIR/n3/mnt/n1/shared,... --count 1000
vr_bench pingpong-own --a DIR/n2/mnt/n1/pp --b DIR/n3/mnt/n1/pp --count 2000
vr_bench stale --writer DIR/n2/mnt/n1/stale --reader DIR/n3/mnt/n1/stale --rounds 1000 --mode fresh|held [--fsync]
vr_bench recover --pid <n3's vremoted> --victim-file DIR/n3/mnt/n1/rec --file DIR/n2/mnt/n1/rec --pages 16
vr_bench hold-qos &                               # POLL mode: /dev/cpu_dma_latency held at 0
# sshfs
nsenter --net=NS_1 /usr/sbin/sshd -D -f sshd_config      # Port 2222, own host and client keys
nsenter --net=NS_2 sshfs -o IdentityFile=KEY,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,port=2222 root@IP1:EXPORT MNT
# GlusterFS
nsenter --net=NS_1 glusterd -N -p PIDFILE --log-file=LOG
nsenter --net=NS_1 gluster --mode=script volume create vrbench IP1:BRICK force ; ... volume start vrbench
nsenter --net=NS_1 gluster --mode=script volume set vrbench features.cache-invalidation on|off
nsenter --net=NS_1 gluster --mode=script volume set vrbench performance.cache-invalidation on|off
nsenter --net=NS_2 mount -t glusterfs IP1:/vrbench MNT
# RSS at 1 M pages
vremote cluster up --netns --nodes 5 --cache-size 4200MiB --dir DIR ; vr_bench seqread --file DIR/n2/mnt/n1/big  # 4 GiB
grep VmRSS /proc/<n2's vremoted>/status ; vremote --config DIR/n2/vremote.toml stats   # cached_pages
vr_core_bench --benchmark_format=json
```""")
p("")

if plots:
    p("## Plots")
    p("")
    for name, title in plots:
        p(f"![{title}]({name}.png)")
        p("")

open(os.path.join(out, "report.md"), "w").write("\n".join(L) + "\n")
print("wrote", os.path.join(out, "report.md"))
