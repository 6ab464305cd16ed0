#!/usr/bin/env bash
# Detection efficacy: `wardwatch hunt` over every labelled set in ../shared/data (files caught
# at medium+ and at any level, per tuning/validation half and per ATT&CK tactic, with the rules
# that carried each catch) and over the benign sets (medium+ per 100,000 events). See
# bench/README.md ("efficacy.sh").
#
# Environment:
#   WARDWATCH_SHARED_DATA   the shared data folder (default: <repo>/../shared/data)
#   WARDWATCH_BIN           use this wardwatch binary instead of building one
#   CONFIGS                 rule sets to compare, comma-separated, among builtin, sigmahq,
#                           sigmahq+builtin, sigmahq+builtin+hayabusa (the optional Hayabusa
#                           pack as `--pack hayabusa` loads it: with its shipped level policy),
#                           sigmahq+builtin+hayabusa-as-is (its rules as they are),
#                           sigmahq+et+builtin, sigmahq+et+th+builtin (SigmaHQ's
#                           emerging-threats and threat-hunting folders besides its core rules)
#                           (default: builtin,sigmahq+builtin: the default packs are the
#                           built-in one alone)
#   DETAIL=1                also list every labelled file: caught (by which rules) or missed
#   BLIND=1                 show the validation half only as aggregate rows (no per-tactic
#                           cell, no per-file line): how rules are tuned without seeing it
#   HUNT_ARGS="..."         extra arguments for every hunt run (e.g. --no-analytics)
#   PER_RULE_OF=DIR         also a table per rule of that folder (a pack), for the last config:
#                           medium+ and any-level findings on the tuning halves and the benign
#                           sets (never the validation half), and the share on records that a
#                           rule from elsewhere also raised
#   BUILTIN_DIR=DIR         read the built-in pack from DIR instead of the embedded one (to
#                           measure another revision's rules/ with this binary:
#                           git archive REV rules | tar -x -C /tmp/old)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED_DATA=${WARDWATCH_SHARED_DATA:-$ROOT/../shared/data}

if [[ ! -d $SHARED_DATA/evtx || ! -d $SHARED_DATA/sigma/rules ]]; then
    echo "efficacy.sh: no shared data at $SHARED_DATA; set WARDWATCH_SHARED_DATA. Nothing measured."
    [[ -n ${CI:-} ]] && exit 1
    exit 0
fi
SHARED_DATA=$(cd "$SHARED_DATA" && pwd)

if [[ -n ${WARDWATCH_BIN:-} ]]; then
    WW=$WARDWATCH_BIN
else
    echo "== building wardwatch (release)" >&2
    (cd "$ROOT" && nice -n 10 cargo build --release -p wardwatch --quiet)
    WW=${CARGO_TARGET_DIR:-$ROOT/target}/release/wardwatch
    [[ $WW = /* ]] || WW=$ROOT/$WW
fi
[[ -x $WW ]] || { echo "efficacy.sh: no wardwatch binary at $WW" >&2; exit 1; }

echo "Efficacy of $("$WW" --version), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
ARGS=(--ww "$WW" --data "$SHARED_DATA" --configs "${CONFIGS:-builtin,sigmahq+builtin}")
[[ -n ${DETAIL:-} ]] && ARGS+=(--detail)
[[ -n ${BLIND:-} ]] && ARGS+=(--blind)
[[ -n ${BUILTIN_DIR:-} ]] && ARGS+=(--builtin-dir "$BUILTIN_DIR")
[[ -n ${HUNT_ARGS:-} ]] && ARGS+=("--hunt-args=$HUNT_ARGS")
[[ -n ${PER_RULE_OF:-} ]] && ARGS+=(--per-rule-of "$PER_RULE_OF")
exec python3 "$HERE/efficacy.py" "${ARGS[@]}"
