#!/usr/bin/env python3
"""One behaviour, one alert: the records on which two built-in rules are both reported.

Runs `wardwatch hunt` with SigmaHQ's rules and the built-in pack over the labelled sets'
tuning half (evtx-to-mitre-attack, the rule is efficacy.py's `half()`: the validation half is
never read), the OTRF host simulations, the SigmaHQ regression data, the dense set and the demo
week, and lists per pair of built-in rules the records both were reported on (with an example
of each), then, for information, the built-in rules reported on one record beside a SigmaHQ
rule. A pair is either one behaviour told twice (the specific rule names the broader one in
`wardwatch: same_as`) or two behaviours on one record (listed with the reason in
crates/wardwatch-rules/tests/overlaps.txt, which the variants test checks on every variant).

Usage: bench/overlaps.py --ww target/release/wardwatch [--rules rules] [--data ../shared/data]
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from efficacy import half, labelled_sets  # noqa: E402


def pack_files(rules):
    """Rule id -> rule file (relative), for every document of the pack."""
    out = {}
    for d, _, names in os.walk(rules):
        for n in names:
            if n.endswith((".yml", ".yaml")):
                p = os.path.join(d, n)
                for m in re.finditer(r"^id:\s*([0-9a-fA-F-]+)", open(p).read(), re.M):
                    out[m.group(1)] = os.path.relpath(p, rules)
    return out


def hunt(ww, paths, rules, sigma, extra, tmp):
    out = os.path.join(tmp, "out.jsonl")
    cmd = [ww, "hunt", *paths, "--format", "jsonl", "-q", "-o", out, "-r", sigma, "-r", rules,
           *extra]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"overlaps: hunt failed ({proc.returncode}): {proc.stderr[-1000:]}")
    with open(out) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--ww", required=True, help="the wardwatch binary")
    ap.add_argument("--rules", default=os.path.join(here, "..", "rules"))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    args = ap.parse_args()
    data, rules = os.path.abspath(args.data), os.path.abspath(args.rules)
    sigma = os.path.join(data, "sigma", "rules")
    if not os.path.isdir(sigma):
        print(f"overlaps: no shared data at {data}; nothing measured")
        return
    pack = pack_files(rules)
    sets = {s.name: s for s in labelled_sets(data)}
    tmp = tempfile.mkdtemp(prefix="wardwatch-overlaps.")
    runs = []
    if "evtx-to-mitre-attack" in sets:
        runs.append(("evtx-to-mitre-attack (tuning)",
                     [f for f in sets["evtx-to-mitre-attack"].files if half(f) == "tuning"], []))
    for name in ("OTRF host simulations", "sigma-regression-data"):
        if name in sets:
            runs.append((name, sets[name].files, []))
    dense = os.path.join(data, "evtx", "dense-samples")
    runs.append(("dense set", [os.path.join(dense, n) for n in sorted(os.listdir(dense))
                               if n.endswith(".evtx")], []))
    demo = os.path.join(tmp, "demo")
    subprocess.run([args.ww, "demo", "--generate-only", demo], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs.append(("demo week", [demo], ["--context", demo]))

    pairs = collections.defaultdict(collections.Counter)  # (a, b) -> set -> records
    example = {}
    beside_sigma = collections.Counter()
    for name, paths, extra in runs:
        sys.stderr.write(f"overlaps: {name} ({len(paths)} paths)\n")
        by_record = collections.defaultdict(list)
        for f in hunt(args.ww, paths, rules, sigma, extra, tmp):
            if f.get("record_id") is not None:
                by_record[(f["file"], f["record_id"])].append(f)
        for found in by_record.values():
            ours = sorted({pack[f["rule_id"]] for f in found if f["rule_id"] in pack})
            theirs = sorted({f["rule_title"] for f in found
                             if f["rule_id"] not in pack and not f["rule_id"].startswith("analytic")})
            for i, a in enumerate(ours):
                for b in ours[i + 1:]:
                    pairs[(a, b)][name] += 1
                    f = next(x for x in found if pack.get(x["rule_id"]) == a)
                    example.setdefault((a, b), f"{f['event_id']}: {f['details'][:160]}")
                for t in theirs:
                    beside_sigma[(a, t)] += 1

    print("### Built-in rules reported together on one record\n")
    if not pairs:
        print("None.\n")
    for (a, b), per_set in sorted(pairs.items(), key=lambda x: -sum(x[1].values())):
        where = ", ".join(f"{s} {n}" for s, n in per_set.items())
        print(f"- `{a}` + `{b}`: {where}; e.g. {example[(a, b)]}")
    print("\n### Built-in rules beside a SigmaHQ rule on one record (for information)\n")
    for (a, t), n in beside_sigma.most_common(25):
        print(f"- {n} × `{a}` ~ {t}")


if __name__ == "__main__":
    main()
