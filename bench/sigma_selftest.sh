#!/usr/bin/env bash
# Sigma self-test: for every SigmaHQ Windows rule in ../shared/data/sigma/rules, build the record
# it describes (no attack data: the record comes from the rule's own condition and items), shape it
# as our decoders produce it (EVTX of the logsource's channel and Event ID; Winlogbeat; flat JSON;
# Security 4688/4657/5156/4663 where Sysmon is absent; other case, windash, typed values as text),
# run it through the detector `hunt` uses and print how many rules fire on their own record and,
# for the rest, why (engine or seam, field mapping, logsource, synthesis limit).
# See crates/wardwatch-hunt/tests/sigma_selftest.rs and bench/README.md ("sigma_selftest.sh").
#
# Environment: WARDWATCH_SHARED_DATA (default <repo>/../shared/data); CI=1 makes absent data a
# failure instead of a skip.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
exec cargo test -p wardwatch-hunt --test sigma_selftest -- --ignored --nocapture
