#!/usr/bin/env python3
"""Flatten `evtx_dump -o jsonl` records into the flat field layout SigmaHQ rules name.

Reads NDJSON on stdin, writes NDJSON on stdout. Used by bench/hunt.sh only, to give peers that
read flat JSON (rsigma `engine eval`) the same records wardwatch reads from the EVTX files.

`{"Event": {"System": {...}, "EventData": {...}}}` becomes one object with:
- the scalar `System` elements as they are (`Channel`, `Computer`, `EventRecordID`, `Level`, ...),
- `EventID` as a number even when it carries `Qualifiers`,
- `Provider_Name`, `Provider_Guid`, `TimeCreated_SystemTime`, `ProcessID`, `ThreadID`, `UserID`
  (Security) from the elements' attributes,
- the `EventData` fields (or those of the single element under `UserData`) at the top level.
"""

import json
import sys


def attrs(v):
    if isinstance(v, dict):
        a = v.get("#attributes")
        if isinstance(a, dict):
            return a
    return {}


def flatten(rec):
    ev = rec.get("Event", rec)
    out = {}
    system = ev.get("System") or {}
    for k, v in system.items():
        if k == "EventID":
            out["EventID"] = v.get("#text") if isinstance(v, dict) else v
        elif k == "Provider":
            for a, av in attrs(v).items():
                out["Provider_" + a] = av
        elif k == "TimeCreated":
            out["TimeCreated_SystemTime"] = attrs(v).get("SystemTime")
        elif k in ("Execution", "Security", "Correlation"):
            for a, av in attrs(v).items():
                out[a] = av
        elif not isinstance(v, (dict, list)):
            out[k] = v
    data = ev.get("EventData")
    if not isinstance(data, dict):
        user = ev.get("UserData")
        data = next(iter(user.values()), None) if isinstance(user, dict) and user else None
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "#attributes":
                continue
            if isinstance(v, dict) and "#text" in v and len(v) <= 2:
                v = v["#text"]
            out.setdefault(k, v)
    return out


def main():
    w = sys.stdout.write
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        w(json.dumps(flatten(rec), separators=(",", ":"), ensure_ascii=False))
        w("\n")


if __name__ == "__main__":
    main()
