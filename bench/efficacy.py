#!/usr/bin/env python3
"""Detection efficacy over every labelled set in ../shared/data, and noise over the benign sets.

Run by bench/efficacy.sh (which builds the binary); see bench/README.md for what each column
means. Prints Markdown tables on standard output, progress on standard error.

Labelled sets are split into a tuning half and a validation half by a fixed hash of the file
name (FNV-1a 64 of the base name, bit 32: 0 = tuning, 1 = validation), the same split as
`wardwatch_hunt::half`. Rules are written and levels calibrated on the tuning half
only; the validation half says whether a change generalizes.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta

LEVELS = ["informational", "low", "medium", "high", "critical"]
MEDIUM = LEVELS.index("medium")


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def half(path: str) -> str:
    """'tuning' or 'validation', from the file's base name."""
    return "validation" if (fnv1a64(os.path.basename(path).encode()) >> 32) & 1 else "tuning"


def level_at_least_medium(level: str) -> bool:
    return LEVELS.index(level) >= MEDIUM if level in LEVELS else False


HUNT_ARGS = []
# SigmaHQ's folders besides `rules/`, loaded for the regression cases only.
SIGMA_EXTRA = ["rules-threat-hunting", "rules-emerging-threats", "rules-compliance",
               "rules-placeholder"]


def run_hunt(ww, paths, rules, extra, out):
    cmd = [ww, "hunt", *paths, "--format", "jsonl", "-o", out, *HUNT_ARGS]
    for r in rules:
        cmd += ["-r", r]
    cmd += extra
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode not in (0,):
        sys.stderr.write(proc.stderr[-2000:])
        raise SystemExit(f"efficacy: hunt failed ({proc.returncode}): {' '.join(cmd)}")
    m = re.search(r"^events\s+(\d+)", proc.stderr, re.M)
    events = int(m.group(1)) if m else 0
    findings = []
    with open(out) as f:
        for line in f:
            if line.strip():
                findings.append(json.loads(line))
    return findings, events


def archive_of(source: str) -> str:
    """The file a finding came from: an archive member `a.zip!m.json` counts for `a.zip`."""
    return source.split("!", 1)[0]


class Set:
    """A labelled set: files, each with a tactic label."""

    def __init__(self, name, root, files, tactic_of):
        self.name = name
        self.root = root
        self.files = sorted(files)
        self.tactic = {f: tactic_of(f) for f in self.files}


def walk(root, pred):
    out = []
    for d, _, names in os.walk(root, followlinks=True):
        for n in names:
            p = os.path.join(d, n)
            if pred(p):
                out.append(p)
    return out


def labelled_sets(data):
    sets = []
    mitre = os.path.join(data, "evtx/evtx-to-mitre-attack")
    if os.path.isdir(mitre):
        sets.append(Set(
            "evtx-to-mitre-attack", mitre,
            walk(mitre, lambda p: p.endswith(".evtx")),
            lambda f: os.path.relpath(f, mitre).split(os.sep)[0]))
    reg = os.path.join(data, "evtx/sigma-regression-data")
    if os.path.isdir(reg):
        def reg_tactic(f):
            parts = os.path.relpath(f, reg).split(os.sep)
            # rules/windows/<category>/<rule>/<id>.evtx: the logsource category
            return parts[2] if len(parts) > 3 else parts[0]
        sets.append(Set("sigma-regression-data", reg,
                        walk(reg, lambda p: p.endswith(".evtx")), reg_tactic))
    otrf = []
    for base in ("identity/otrf-host", "endpoint/otrf-host"):
        root = os.path.join(data, base)
        if os.path.isdir(root):
            otrf += walk(root, lambda p: (p.endswith(".zip") or p.endswith(".tar.gz"))
                         and "_metadata" not in p)
    if otrf:
        sets.append(Set("OTRF host simulations", data, otrf,
                        lambda f: os.path.relpath(f, data).split(os.sep)[2]))
    compound = []
    for base in ("endpoint/otrf-compound", "identity/otrf-cloud"):
        root = os.path.join(data, base)
        if os.path.isdir(root):
            compound += walk(root, lambda p: p.endswith(".zip"))
    if compound:
        sets.append(Set("OTRF compound/cloud scenarios", data, compound,
                        lambda f: os.path.relpath(f, data).split(os.sep)[2]))
    splunk = os.path.join(data, "endpoint/splunk-attack_data")
    if os.path.isdir(splunk):
        sets.append(Set("Splunk attack_data", splunk,
                        walk(splunk, lambda p: p.endswith(".tar.gz")),
                        lambda f: os.path.relpath(f, splunk).split(os.sep)[0]))
    return sets


def regression_expected(data):
    """{evtx path: (rule id, match_count)} from the regression cases' info.yml."""
    out = {}
    reg = os.path.join(data, "evtx/sigma-regression-data")
    for d, _, names in os.walk(reg):
        if "info.yml" not in names:
            continue
        text = open(os.path.join(d, "info.yml")).read()
        m = re.search(r"rule_metadata:\s*\n\s*-\s*id:\s*['\"]?([0-9a-f-]+)", text)
        c = re.search(r"match_count:\s*(\d+)", text)
        for n in names:
            if n.endswith(".evtx") and m:
                out[os.path.join(d, n)] = (m.group(1), int(c.group(1)) if c else 1)
    return out


def pct(n, d):
    return f"{100.0 * n / d:.1f}%" if d else "-"


def evaluate(name, s, findings):
    """Per file: medium+ rules and any-level rules."""
    med = collections.defaultdict(collections.Counter)
    anyl = collections.defaultdict(collections.Counter)
    for f in findings:
        src = archive_of(f["file"])
        anyl[src][f["rule_title"]] += 1
        if level_at_least_medium(f["level"]):
            med[src][f["rule_title"]] += 1
    return med, anyl


def table_labelled(configs, sets, results, detail, blind=False):
    print("### Labelled sets: files with a detection\n")
    head = ["set", "half", "files"]
    for c in configs:
        head += [f"{c} medium+", f"{c} any"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for s in sets:
        for h in ("tuning", "validation", "all"):
            files = [f for f in s.files if h == "all" or half(f) == h]
            row = [s.name, h, str(len(files))]
            for c in configs:
                med, anyl = results[(c, s.name)]
                m = sum(1 for f in files if med.get(f))
                a = sum(1 for f in files if anyl.get(f))
                row += [f"{m} ({pct(m, len(files))})", f"{a} ({pct(a, len(files))})"]
            print("| " + " | ".join(row) + " |")
    print()
    # The default rule set is the one to read per tactic and per file.
    last = "sigmahq+builtin" if "sigmahq+builtin" in configs else configs[-1]
    print(f"### Per tactic ({last}, medium+; tuning / validation)\n")
    print("| set | tactic | tuning | validation | rules that carried the catches (top 3) |")
    print("|---|---|---|---|---|")
    for s in sets:
        med, _ = results[(last, s.name)]
        tactics = sorted(set(s.tactic.values()))
        for t in tactics:
            cells = []
            carried = collections.Counter()
            for h in ("tuning", "validation"):
                if blind and h == "validation":
                    cells.append("(blind)")
                    continue
                files = [f for f in s.files if s.tactic[f] == t and half(f) == h]
                m = sum(1 for f in files if med.get(f))
                cells.append(f"{m}/{len(files)}" if files else "-")
                for f in files:
                    for r in med.get(f, {}):
                        carried[r] += 1
            top = "; ".join(f"{r} ({n})" for r, n in carried.most_common(3))
            print(f"| {s.name} | {t} | {cells[0]} | {cells[1]} | {top} |")
    print()
    if detail:
        print(f"### Per file ({last}): medium+ rules, or the rules at any level\n")
        for s in sets:
            med, anyl = results[(last, s.name)]
            print(f"#### {s.name}\n")
            for f in s.files:
                if blind and half(f) == "validation":
                    continue
                rel = os.path.relpath(f, s.root)
                if med.get(f):
                    rules = ", ".join(r for r, _ in med[f].most_common(4))
                    print(f"- [{half(f)[0]}] CAUGHT {rel}: {rules}")
                elif anyl.get(f):
                    rules = ", ".join(r for r, _ in anyl[f].most_common(3))
                    print(f"- [{half(f)[0]}] low-only {rel}: {rules}")
                else:
                    print(f"- [{half(f)[0]}] MISSED {rel}")
            print()


def regression_table(configs, data, results):
    expected = regression_expected(data)
    if not expected:
        return
    print("### SigmaHQ regression data: the named rule fires at least `match_count` times\n")
    print("| rules | cases passed |")
    print("|---|---|")
    for c in configs:
        findings = results.get((c, "__regression_raw"))
        if findings is None:
            continue
        counts = collections.Counter()
        for f in findings:
            counts[(f["file"], f["rule_id"])] += 1
        ok = sum(1 for p, (rid, n) in expected.items() if counts[(p, rid)] >= n)
        print(f"| {c} | {ok}/{len(expected)} |")
    print()


def story_filter(stories_path):
    doc = json.load(open(stories_path))
    windows = []
    for st in doc["stories"]:
        start = datetime.fromisoformat(st["start"].replace("Z", "+00:00")) - timedelta(minutes=10)
        end = datetime.fromisoformat(st["end"].replace("Z", "+00:00")) + timedelta(minutes=10)
        ents = {x.lower() for x in st.get("hosts", []) + st.get("users", [])}
        if st.get("source_ip"):
            ents.add(st["source_ip"].lower())
        windows.append((start, end, ents))

    def is_story(f):
        ts = datetime.fromisoformat(f["timestamp"].replace("Z", "+00:00"))
        vals = {str(f.get(k) or "").lower() for k in ("host", "user")}
        vals |= {str(e.get("value") or "").lower() for e in f.get("entities", [])}
        vals |= {v.lower() for v in re.findall(r"[\w.$-]+", f.get("details", ""))}
        # stories.json names hosts as people say them (PACS01); alerts name them as the logs
        # do (PACS01.hospital.local).
        vals |= {v.split(".", 1)[0] for v in vals if not v[:1].isdigit()}
        for start, end, ents in windows:
            if start <= ts <= end and (vals & ents):
                return True
        return False
    return is_story


def rule_ids_in(folder):
    """{rule id: title} of every rule (and correlation) in a folder's YAML files."""
    ids = {}
    for path in walk(folder, lambda p: p.endswith((".yml", ".yaml"))):
        text = open(path, errors="replace").read()
        for doc in re.split(r"^---\s*$", text, flags=re.M):
            i = re.search(r"^id:\s*['\"]?([0-9A-Za-z-]+)", doc, re.M)
            t = re.search(r"^title:\s*['\"]?(.*?)['\"]?\s*$", doc, re.M)
            if i:
                ids[i.group(1)] = t.group(1) if t else "?"
    return ids


class PerRule:
    """Per rule of one folder (a pack): medium+ and any-level findings on the tuning halves and
    the benign sets (never the validation half), and how many of its findings fall on a record
    that a rule from elsewhere also raised (one behaviour, one alert)."""

    def __init__(self, folder):
        self.ids = rule_ids_in(folder)
        self.columns = []
        self.counts = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
        self.same = collections.Counter()
        self.total = collections.Counter()
        self.others = collections.defaultdict(collections.Counter)

    def add(self, column, findings):
        if column not in self.columns:
            self.columns.append(column)
        by_record = collections.defaultdict(list)
        for f in findings:
            by_record[(f["file"], f.get("record_id"))].append(f)
        for f in findings:
            rid = f["rule_id"]
            if rid not in self.ids:
                continue
            c = self.counts[rid][column]
            c[1] += 1
            c[0] += level_at_least_medium(f["level"])
            if f.get("record_id") is None:
                continue
            self.total[rid] += 1
            ours = [o for o in by_record[(f["file"], f["record_id"])] if o["rule_id"] not in self.ids]
            if ours:
                self.same[rid] += 1
                for o in ours:
                    self.others[rid][f'{o["rule_title"]} ({o["level"]})'] += 1

    def print(self, config):
        print(f"### Per rule of the pack ({config}; medium+ / any level; tuning halves and benign sets only)\n")
        print("| rule | id | " + " | ".join(self.columns) + " | on a record another rule raised | those rules (top 2) |")
        print("|---|---|" + "---|" * len(self.columns) + "---|---|")
        fired = sorted(self.counts, key=lambda r: (-sum(v[0] for v in self.counts[r].values()),
                                                   -sum(v[1] for v in self.counts[r].values()), r))
        for rid in fired:
            cells = [f"{self.counts[rid][c][0]} / {self.counts[rid][c][1]}" for c in self.columns]
            tops = "; ".join(f"{k} ×{n}" for k, n in self.others[rid].most_common(2))
            print(f"| {self.ids[rid]} | `{rid}` | " + " | ".join(cells)
                  + f" | {self.same[rid]}/{self.total[rid]} | {tops} |")
        print(f"\n{len(fired)} of the folder's {len(self.ids)} rule ids fired.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ww", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--detail", action="store_true", help="list every file, caught or missed")
    ap.add_argument(
        "--blind",
        action="store_true",
        help="show the validation half only as the aggregate rows (no per-tactic or per-file line)",
    )
    ap.add_argument("--configs", default="builtin,sigmahq+builtin")
    ap.add_argument("--builtin-dir", help="read the built-in pack from this folder")
    ap.add_argument("--hunt-args", default="", help="extra arguments for every hunt run")
    ap.add_argument("--per-rule-of", help="per-rule table for the rules of this folder (last config)")
    args = ap.parse_args()
    HUNT_ARGS.extend(args.hunt_args.split())
    data = args.data
    sigma = os.path.join(data, "sigma/rules")
    hayabusa = os.path.join(data, "hayabusa-rules")
    et = os.path.join(data, "sigma/rules-emerging-threats")
    th = os.path.join(data, "sigma/rules-threat-hunting")
    if args.builtin_dir:
        # The built-in pack from a folder (e.g. an older revision's rules/), not the embedded one.
        builtin = ([args.builtin_dir], [])
        with_builtin = ([sigma, args.builtin_dir], [])
    else:
        builtin = ([], [])
        with_builtin = ([sigma], ["--with-builtin"])
    config_args = {
        "builtin": builtin,
        "sigmahq": ([sigma], []),
        "sigmahq+builtin": with_builtin,
        # The Hayabusa pack as `--pack hayabusa` loads it (off by default): with the level
        # policy the project ships for it (packs/hayabusa.yml), and as its rules are.
        "sigmahq+builtin+hayabusa": (with_builtin[0], with_builtin[1] + ["--pack", hayabusa]),
        "sigmahq+builtin+hayabusa-as-is": (with_builtin[0] + [hayabusa], with_builtin[1]),
        # SigmaHQ's emerging-threats folder (rules for named campaigns, tools and CVEs) and its
        # threat-hunting folder (broader, for hunting), besides its core rules.
        "sigmahq+et+builtin": (with_builtin[0] + [et], with_builtin[1]),
        "sigmahq+et+th+builtin": (with_builtin[0] + [et, th], with_builtin[1]),
    }
    configs = args.configs.split(",")
    sets = labelled_sets(data)
    results = {}
    tmp = tempfile.mkdtemp(prefix="wardwatch-efficacy.")
    out = os.path.join(tmp, "out.jsonl")
    # Benign: the dense set 12 times (as bench/hunt.sh), the demo week without its stories.
    dense_src = os.path.join(data, "evtx/dense-samples")
    dense = os.path.join(tmp, "dense")
    os.makedirs(dense)
    for i in range(1, 13):
        for n in sorted(os.listdir(dense_src)):
            if n.endswith(".evtx"):
                os.symlink(os.path.join(dense_src, n), os.path.join(dense, f"{n[:-5]}_{i:02}.evtx"))
    demo = os.path.join(tmp, "demo")
    subprocess.run([args.ww, "demo", "--generate-only", demo], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    is_story = story_filter(os.path.join(demo, "stories.json"))
    benign = {}
    per_rule = PerRule(args.per_rule_of) if args.per_rule_of else None
    for c in configs:
        rules, extra = config_args[c]
        for s in sets:
            sys.stderr.write(f"efficacy: {c}: {s.name} ({len(s.files)} files)\n")
            set_rules = rules
            if s.name == "sigma-regression-data" and sigma in rules:
                # The regression cases name rules of every SigmaHQ folder (emerging threats,
                # threat hunting...), as the `sigma_regression` test loads them.
                set_rules = rules + [os.path.join(data, "sigma", d) for d in SIGMA_EXTRA
                                     if os.path.isdir(os.path.join(data, "sigma", d))]
            findings, _ = run_hunt(args.ww, s.files, set_rules, extra, out)
            if per_rule and c == configs[-1] and s.name != "sigma-regression-data":
                # The tuning half only: no per-rule figure of the validation half is ever made.
                per_rule.add(f"{s.name} (tuning)",
                             [f for f in findings if half(archive_of(f["file"])) == "tuning"])
            if s.name == "sigma-regression-data":
                results[(c, "__regression_raw")] = findings
            results[(c, s.name)] = evaluate(c, s, findings)
        sys.stderr.write(f"efficacy: {c}: benign sets\n")
        findings, events = run_hunt(args.ww, [dense], rules, extra, out)
        med = [f for f in findings if level_at_least_medium(f["level"])]
        benign[(c, "dense-samples ×12")] = (events, len(med), collections.Counter(f["rule_title"] for f in med))
        if per_rule and c == configs[-1]:
            per_rule.add("dense-samples ×12", findings)
        # The week with its own context (inventory.csv: the scanner, backup and admin hosts),
        # as `wardwatch demo` serves it: without it the vulnerability scanner's rounds are
        # unknown vertical scans.
        findings, events = run_hunt(args.ww, [demo], rules, extra + ["--context", demo], out)
        quiet = [f for f in findings if not is_story(f)]
        if per_rule and c == configs[-1]:
            per_rule.add("demo week without stories", quiet)
        med = [f for f in quiet if level_at_least_medium(f["level"])]
        story_med = [f for f in findings if is_story(f) and level_at_least_medium(f["level"])]
        benign[(c, "demo week, without stories")] = (events, len(med), collections.Counter(f["rule_title"] for f in med))
        benign[(c, "demo week, the stories (medium+ expected)")] = (events, len(story_med), collections.Counter())

    table_labelled(configs, sets, results, args.detail, args.blind)
    regression_table(configs, data, results)
    print("### Benign sets: medium+ detections\n")
    print("| rules | set | events | medium+ | per 100,000 events | top rules |")
    print("|---|---|---|---|---|---|")
    for (c, name), (events, n, top) in benign.items():
        rate = f"{100000.0 * n / events:.1f}" if events else "-"
        tops = "; ".join(f"{r} ({k})" for r, k in top.most_common(4))
        print(f"| {c} | {name} | {events:,} | {n} | {rate} | {tops} |")
    print()
    if per_rule:
        per_rule.print(configs[-1])


if __name__ == "__main__":
    main()
