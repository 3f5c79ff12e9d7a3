#!/usr/bin/env python3
"""Prints ThingDB / baseline score ratios from a JMH JSON result file.

Usage: python3 benchmarks/ratios.py RESULT.json [RESULT.json ...]

Results are grouped by benchmark method, mode and every parameter except `backend`; in each group
the `thingdb` score is divided by the baseline's (`raw`, `guava` or `jdbc`). The ratio's error is
propagated to first order from JMH's score errors (each the half-width of a 99.9% confidence
interval): err(a/b) = a/b * sqrt((err_a/a)^2 + (err_b/b)^2). Benchmarks without a `backend`
parameter are listed with their scores alone. When the run used `-prof gc`, bytes allocated per
operation are shown as well. Misses and unconfirmed writes (counted by CacheOverheadBenchmark; all
keys are present, so each one is a timeout or a server ThingDB considered suspect) are totalled
over all measurement iterations; a ratio from a row with misses is not a clean comparison. When
the run used `-prof io.thingdb.benchmarks.CpuProfiler`, CPU time per operation (this JVM plus the
memcached it started) is shown with baseline CPU / ThingDB CPU: the throughput ratio a CPU-bound
machine would see, and much steadier than throughput when other processes share the machine.

For throughput (thrpt) a ratio below 1 means ThingDB is slower; for average time (avgt) a ratio
above 1 does. Rows where ThingDB is below 0.9x the baseline's speed are marked with `!`.
Python 3 standard library only.
"""

import json
import math
import sys
from collections import OrderedDict

CANDIDATE = "thingdb"
BASELINES = ("raw", "guava", "jdbc")
ALLOC = "gc.alloc.rate.norm"
FAILURES = ("misses", "unconfirmedWrites")
CPU = "cpu.total"
SLOW = 0.9


def fmt(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def score(result):
    m = result["primaryMetric"]
    err = m.get("scoreError")
    if err in (None, "NaN") or (isinstance(err, float) and math.isnan(err)):
        err = float("nan")
    return m["score"], float(err), m["scoreUnit"]


def alloc(result):
    m = result.get("secondaryMetrics", {}).get("·" + ALLOC) or result.get("secondaryMetrics", {}).get(ALLOC)
    return None if m is None else m["score"]


def secondary(result, name):
    m = result.get("secondaryMetrics", {}).get(name)
    if m is None:
        return None, None
    err = m.get("scoreError")
    return m["score"], (float("nan") if err in (None, "NaN") else float(err))


def failures(result):
    """Total misses + unconfirmed writes over all iterations, or None if not counted."""
    metrics = result.get("secondaryMetrics", {})
    found = [metrics[name] for name in FAILURES if name in metrics]
    if not found:
        return None
    return int(sum(v for m in found for fork in m.get("rawData", []) for v in fork))


def ratio(a, ea, b, eb):
    r = a / b
    return r, r * math.sqrt((ea / a) ** 2 + (eb / b) ** 2) if a and b else float("nan")


def short(name):
    parts = name.split(".")
    return ".".join(parts[-2:])


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    results = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            results.extend(json.load(f))

    groups = OrderedDict()
    lone = []
    for r in results:
        params = dict(r.get("params") or {})
        backend = params.pop("backend", None)
        if backend is None:
            lone.append(r)
            continue
        key = (r["benchmark"], r["mode"], tuple(sorted(params.items())))
        groups.setdefault(key, {})[backend] = r

    any_alloc = any(alloc(r) is not None for r in results)
    any_failures = any(failures(r) is not None for r in results)
    any_cpu = any(secondary(r, CPU)[0] is not None for r in results)
    if groups:
        head = ["benchmark", "params", "mode", "baseline", "thingdb", "unit", "thingdb / baseline"]
        if any_alloc:
            head.append("B/op baseline → thingdb")
        if any_cpu:
            head.append("CPU ns/op baseline → thingdb (baseline / thingdb)")
        if any_failures:
            head.append("misses+unconfirmed baseline → thingdb")
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for (bench, mode, params), by in groups.items():
            base_name = next((b for b in BASELINES if b in by), None)
            cand = by.get(CANDIDATE)
            if base_name is None or cand is None:
                continue
            base = by[base_name]
            a, ea, unit = score(cand)
            b, eb, _ = score(base)
            r, er = ratio(a, ea, b, eb)
            speed = r if mode != "avgt" and mode != "ss" and mode != "sample" else 1 / r
            flag = " !" if speed < SLOW else ""
            shown = ", ".join(f"{k}={v}" for k, v in params if v != "") or "-"
            row = [
                short(bench),
                shown,
                mode,
                f"{base_name} {fmt(b)} ± {fmt(eb)}",
                f"{fmt(a)} ± {fmt(ea)}",
                unit,
                f"**{r:.3f} ± {er:.3f}**{flag}",
            ]
            if any_alloc:
                row.append(f"{fmt(alloc(base))} → {fmt(alloc(cand))}")
            if any_cpu:
                cb, ecb = secondary(base, CPU)
                cc, ecc = secondary(cand, CPU)
                if cb is None or cc is None:
                    row.append("-")
                else:
                    cr, ecr = ratio(cb, ecb, cc, ecc)
                    row.append(f"{fmt(cb)} → {fmt(cc)} ({cr:.3f} ± {ecr:.3f})")
            if any_failures:
                fb, fc = failures(base), failures(cand)
                row.append("-" if fb is None and fc is None else f"{fb} → {fc}")
            print("| " + " | ".join(row) + " |")
    if lone:
        print()
        head = ["benchmark", "params", "mode", "score", "unit"] + (["B/op"] if any_alloc else [])
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in lone:
            s, e, unit = score(r)
            shown = ", ".join(f"{k}={v}" for k, v in sorted((r.get("params") or {}).items())) or "-"
            row = [short(r["benchmark"]), shown, r["mode"], f"{fmt(s)} ± {fmt(e)}", unit]
            if any_alloc:
                row.append(fmt(alloc(r)))
            print("| " + " | ".join(row) + " |")
    print()
    print(f"Errors are JMH's 99.9% half-widths, propagated to the ratio; `!` marks ThingDB below {SLOW}x"
          " the baseline's speed (thrpt: ratio < 0.9; avgt: ratio > 1/0.9).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
