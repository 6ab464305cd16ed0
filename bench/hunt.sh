#!/usr/bin/env bash
# Hunt benchmark: `wardwatch hunt` over the dense EVTX set with the SigmaHQ rules, and the same
# run with Hayabusa, Chainsaw and rsigma when they are on PATH. See bench/README.md.
#
# Environment:
#   RUNS=3                    timed runs per tool (the median is reported)
#   PEER_RUNS=$RUNS           timed runs per peer (a Chainsaw run takes 35 s to 2 min)
#   WARDWATCH_SHARED_DATA     the shared data folder (default: <repo>/../shared/data)
#   WARDWATCH_BIN             use this wardwatch binary instead of building one
#   HAYABUSA_DIR              Hayabusa's build folder (holds rules/config); default: found
#                             from the hayabusa binary's real path
#   HAYABUSA_RULES            converted rules for Hayabusa (default: $HAYABUSA_DIR/rules/sigma,
#                             without its deprecated/emerging-threats/threat-hunting/placeholder/
#                             unsupported folders, i.e. the counterpart of SigmaHQ's rules/)
#   CHAINSAW_MAPPING          Chainsaw's mappings/sigma-event-logs-all.yml (default: found from
#                             the chainsaw binary's real path)
#   NO_PEERS=1                measure wardwatch only
#   PACK=DIR                  also load this rule folder in every wardwatch run (e.g. the
#                             built-in pack, PACK=rules), to measure what it costs
#   BEFORE_BIN=PATH           also measure another wardwatch binary (e.g. an earlier revision,
#                             built elsewhere) on the same set, and check the 10% budget:
#                             this build within 10% of its time and peak memory
#   HUNT_ARGS="..."           extra arguments for this build's hunt only (not BEFORE_BIN's):
#                             `HUNT_ARGS="--pack hayabusa" BEFORE_BIN=<the same binary>` puts
#                             an optional pack's cost side by side with the run without it
#   STRICT=1                  exit 1 when a target (below) is missed
#   KEEP=1                    keep the temporary folder (its path is printed)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED_DATA=${WARDWATCH_SHARED_DATA:-$ROOT/../shared/data}
RUNS=${RUNS:-3}
PEER_RUNS=${PEER_RUNS:-$RUNS}
COPIES=12
EVENTS=90756 # 12 copies of the four files: 7,563 records a copy
TARGET_SPEEDUP=5  # ≥ 5× faster than Hayabusa, end to end
TARGET_MIB=250    # peak RSS below 250 MiB

EVTX_SRC=$SHARED_DATA/evtx/dense-samples
RULES=$SHARED_DATA/sigma/rules

die() { echo "hunt.sh: $*" >&2; exit 1; }
note() { echo "hunt.sh: $*" >&2; }

if [[ ! -d $EVTX_SRC || ! -d $RULES ]]; then
    echo "hunt.sh: no shared data at $SHARED_DATA (need evtx/dense-samples/ and sigma/rules/);"
    echo "hunt.sh: set WARDWATCH_SHARED_DATA to the shared data folder. Nothing measured."
    exit 0
fi
shopt -s nullglob
SRC_FILES=("$EVTX_SRC"/*.evtx)
shopt -u nullglob
[[ ${#SRC_FILES[@]} -eq 4 ]] || die "expected 4 .evtx files in $EVTX_SRC, found ${#SRC_FILES[@]}"
SHARED_DATA=$(cd "$SHARED_DATA" && pwd)
EVTX_SRC=$SHARED_DATA/evtx/dense-samples
RULES=$SHARED_DATA/sigma/rules
[[ $RUNS =~ ^[1-9][0-9]*$ && $PEER_RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS and PEER_RUNS must be positive integers"

# ---------------------------------------------------------------- build
if [[ -n ${WARDWATCH_BIN:-} ]]; then
    WW=$WARDWATCH_BIN
else
    echo "== building wardwatch (release)"
    (cd "$ROOT" && nice -n 10 cargo build --release -p wardwatch --quiet)
    WW=${CARGO_TARGET_DIR:-$ROOT/target}/release/wardwatch
    [[ $WW = /* ]] || WW=$ROOT/$WW
fi
[[ -x $WW ]] || die "no wardwatch binary at $WW"

# ---------------------------------------------------------------- reference set
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wardwatch-hunt-bench.XXXXXX")
case $WORK/ in "$ROOT"/*)
    rmdir "$WORK"
    die "temporary folder $WORK is inside the repository; set TMPDIR elsewhere" ;;
esac
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [[ -n ${KEEP:-} ]]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
# A copy of the binary, so that a build running beside this one cannot swap it mid-benchmark.
cp "$WW" "$WORK/wardwatch"
WW=$WORK/wardwatch
SET=$WORK/set
mkdir -p "$SET"
for i in $(seq -w 1 "$COPIES"); do
    for f in "${SRC_FILES[@]}"; do
        b=$(basename "$f" .evtx)
        cp "$f" "$SET/${b}_$i.evtx"
    done
done
chmod -R u+w "$SET"
SET_BYTES=$(du -sb "$SET" | cut -f1)

# ---------------------------------------------------------------- timing
if [[ -x /usr/bin/time ]] && /usr/bin/time -f '%e %M' true >/dev/null 2>&1; then
    GNU_TIME=1
else
    GNU_TIME=0
    note "/usr/bin/time (GNU time) not found: wall time from bash, no peak RSS (apt-get install time)"
fi

# time_once OUT ERR CMD...: run CMD with stdout to OUT and stderr to ERR; print "secs kib".
time_once() {
    local out=$1 err=$2 tf=$WORK/time.txt rc=0
    shift 2
    if ((GNU_TIME)); then
        /usr/bin/time -o "$tf" -f '%e %M' "$@" >"$out" 2>"$err" || rc=$?
        ((rc == 0)) || return "$rc"
        tail -n 1 "$tf"
    else
        local TIMEFORMAT=%R
        { time "$@" >"$out" 2>"$err"; } 2>"$tf" || rc=$?
        ((rc == 0)) || return "$rc"
        echo "$(tail -n 1 "$tf") NA"
    fi
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) exit 1; if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# Results, one row per tool: name|version|runs|median s|peak MiB|detections|note
ROWS=()

# measure NAME VERSION NRUNS COUNTFILE NOTE CMD...
#   Runs CMD NRUNS times; COUNTFILE's lines after each run are the detection count ("-": the
#   command's stdout; "none": no count). Adds a row to ROWS; returns 1 (row marked failed) if a run fails.
measure() {
    local name=$1 version=$2 nruns=$3 countfile=$4 rownote=$5
    shift 5
    local times=() peak=0 count=NA r secs kib
    echo "== $name: $nruns run(s): $*"
    for ((r = 1; r <= nruns; r++)); do
        [[ $countfile = - || $countfile = none ]] || rm -f "$countfile"
        read -r secs kib < <(time_once "$WORK/stdout" "$WORK/stderr" "$@" || echo "FAIL $?") || true
        if [[ $secs = FAIL ]]; then
            note "$name failed (exit $kib); last lines of its stderr:"
            tail -n 5 "$WORK/stderr" >&2
            ROWS+=("$name|$version|$nruns|failed|NA|NA|$rownote")
            return 1
        fi
        if [[ $countfile = none ]]; then
            count=-
        elif [[ $countfile = - ]]; then
            count=$(wc -l <"$WORK/stdout")
        elif [[ -f $countfile ]]; then
            count=$(wc -l <"$countfile")
        else
            count=0
        fi
        count=${count// /}
        local shown='peak n/a'
        [[ $kib = NA ]] || shown=$(awk -v k="$kib" 'BEGIN{printf "%7.1f MiB", k/1024}')
        printf '   run %d: %6.2f s  %s  %s detection(s)\n' "$r" "$secs" "$shown" "$count"
        times+=("$secs")
        [[ $kib = NA ]] && peak=NA
        [[ $peak != NA ]] && ((kib > peak)) && peak=$kib
    done
    local med
    med=$(printf '%s\n' "${times[@]}" | median)
    local mib=NA
    [[ $peak != NA ]] && mib=$(awk -v k="$peak" 'BEGIN{printf "%.0f", k/1024}')
    ROWS+=("$name|$version|$nruns|$med|$mib|$count|$rownote")
}

# Walk up from the real path of a binary to the first folder holding REL; print it.
find_up() {
    local d
    d=$(dirname "$(readlink -f "$1")")
    while [[ $d != / ]]; do
        if [[ -e $d/$2 ]]; then echo "$d"; return 0; fi
        d=$(dirname "$d")
    done
    return 1
}

echo
echo "== set: $COPIES copies of ${#SRC_FILES[@]} files = $((COPIES * ${#SRC_FILES[@]})) files, $EVENTS records, $((SET_BYTES / 1048576)) MiB in $WORK"
echo "== rules: $RULES ($(find "$RULES" -name '*.yml' | wc -l) files)"
PACK_ARGS=()
if [[ -n ${PACK:-} ]]; then
    [[ -d $PACK ]] || die "PACK: no rule folder at $PACK"
    PACK_ARGS=(-r "$PACK")
    echo "== and in the wardwatch runs: $PACK ($(find "$PACK" -name '*.yml' | wc -l) files)"
fi
echo "== machine: $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- wardwatch
WW_OUT=$WORK/wardwatch.jsonl
measure wardwatch "$("$WW" --version | awk '{print $2}')" "$RUNS" "$WW_OUT" "EVTX → Sigma → JSONL, end to end${HUNT_ARGS:+, $HUNT_ARGS}" \
    "$WW" hunt "$SET" -r "$RULES" ${PACK_ARGS[@]+"${PACK_ARGS[@]}"} ${HUNT_ARGS:-} --format jsonl -o "$WW_OUT" -q ||
    die "wardwatch failed"

if [[ -n ${BEFORE_BIN:-} ]]; then
    [[ -x $BEFORE_BIN ]] || die "BEFORE_BIN: no binary at $BEFORE_BIN"
    cp "$BEFORE_BIN" "$WORK/wardwatch-before"
    BEFORE_OUT=$WORK/wardwatch-before.jsonl
    measure "wardwatch (before)" "$("$WORK/wardwatch-before" --version | awk '{print $2}')" "$RUNS" "$BEFORE_OUT" \
        "the same, with $BEFORE_BIN" \
        "$WORK/wardwatch-before" hunt "$SET" -r "$RULES" ${PACK_ARGS[@]+"${PACK_ARGS[@]}"} --format jsonl -o "$BEFORE_OUT" -q ||
        die "the before binary failed"
fi

# ---------------------------------------------------------------- peers
# Peers measured successfully; the others (absent or failed) get their reference row.
MEASURED=" "
if [[ -z ${NO_PEERS:-} ]]; then
    # Hayabusa 3.x: converted SigmaHQ rules (hayabusa-rules' sigma/), its own config folder.
    if command -v hayabusa >/dev/null; then
        HB=$(command -v hayabusa)
        HB_DIR=${HAYABUSA_DIR:-$(find_up "$HB" rules/config || true)}
        HB_VERSION=$("$HB" help 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
        if [[ -z $HB_DIR || ! -d $HB_DIR/rules/config ]]; then
            note "hayabusa: no rules/config folder found above $HB; set HAYABUSA_DIR. Skipped."
        elif [[ -z ${HAYABUSA_RULES:-} && ! -d $HB_DIR/rules/sigma ]]; then
            note "hayabusa: no converted rules in $HB_DIR/rules/sigma; set HAYABUSA_RULES. Skipped."
        else
            if [[ -n ${HAYABUSA_RULES:-} ]]; then
                HB_RULES=$HAYABUSA_RULES
                HB_NOTE="rules: $HB_RULES"
            else
                HB_RULES=$WORK/hayabusa-rules
                mkdir -p "$HB_RULES"
                (cd "$HB_DIR/rules/sigma" &&
                    find . -name '*.yml' \
                        -not -path '*/deprecated/*' -not -path '*/emerging-threats/*' \
                        -not -path '*/threat-hunting/*' -not -path '*/placeholder/*' \
                        -not -path '*/unsupported/*' -exec cp --parents -t "$HB_RULES" {} +)
                HB_NOTE="hayabusa-rules sigma/ (main set, $(find "$HB_RULES" -name '*.yml' | wc -l) converted rules)"
            fi
            HB_OUT=$WORK/hayabusa.jsonl
            # -L: JSONL; -w: no wizard; -q: no banner; -C: overwrite; -c: its rule config (it
            # still prints its results summary, as in the reference figures). Run from its
            # folder, so that anything it looks up or writes relative to it stays there.
            pushd "$HB_DIR" >/dev/null
            measure hayabusa "${HB_VERSION:-?}" "$PEER_RUNS" "$HB_OUT" "$HB_NOTE" \
                "$HB" json-timeline -d "$SET" -r "$HB_RULES" -c "$HB_DIR/rules/config" \
                -o "$HB_OUT" -L -w -q -C && MEASURED+="hayabusa "
            popd >/dev/null
        fi
    else
        note "hayabusa not on PATH: reference figures only"
    fi

    # Chainsaw 2.x: SigmaHQ rules as they are, through its Sigma mapping for event logs.
    if command -v chainsaw >/dev/null; then
        CS=$(command -v chainsaw)
        CS_MAPPING=${CHAINSAW_MAPPING:-}
        if [[ -z $CS_MAPPING ]]; then
            d=$(find_up "$CS" mappings/sigma-event-logs-all.yml || true)
            [[ -n $d ]] && CS_MAPPING=$d/mappings/sigma-event-logs-all.yml
        fi
        if [[ -z $CS_MAPPING || ! -f $CS_MAPPING ]]; then
            note "chainsaw: no mappings/sigma-event-logs-all.yml found; set CHAINSAW_MAPPING. Skipped."
        else
            CS_OUT=$WORK/chainsaw.jsonl
            measure chainsaw "$("$CS" --version | awk '{print $2}')" "$PEER_RUNS" "$CS_OUT" \
                "SigmaHQ rules/, mapping $(basename "$CS_MAPPING")" \
                "$CS" hunt "$SET" -s "$RULES" --mapping "$CS_MAPPING" --jsonl -o "$CS_OUT" -q &&
                MEASURED+="chainsaw "
        fi
    else
        note "chainsaw not on PATH: reference figures only"
    fi

    # rsigma: `engine eval` on the records pre-flattened to NDJSON (detection only), as in the
    # reference figures: evtx_dump -o jsonl, then bench/flatten_evtx_jsonl.py, untimed.
    if command -v rsigma >/dev/null; then
        if ! command -v evtx_dump >/dev/null || ! command -v python3 >/dev/null; then
            note "rsigma: needs evtx_dump and python3 to pre-flatten the records. Skipped."
        else
            FLAT=$WORK/flat.ndjson
            if ! for f in "$SET"/*.evtx; do evtx_dump -o jsonl "$f" || exit; done |
                python3 "$HERE/flatten_evtx_jsonl.py" >"$FLAT"; then
                note "rsigma: could not convert the set to flat NDJSON. Skipped."
            else
                n=$(wc -l <"$FLAT")
                ((n == EVENTS)) || note "rsigma: $n flattened records, expected $EVENTS"
                measure rsigma "$(rsigma --version | awk 'NR==1{print $2}')" "$PEER_RUNS" - \
                    "engine eval on pre-flattened NDJSON: detection only" \
                    rsigma engine eval -r "$RULES" -e "@$FLAT" --output-format ndjson -q &&
                    MEASURED+="rsigma "
            fi
        fi
    else
        note "rsigma not on PATH: reference figures only"
    fi

    # The floor: parsing alone, EVTX to JSON lines, no detection.
    if command -v evtx_dump >/dev/null; then
        # shellcheck disable=SC2016 # $1 and $f are the inner bash's
        measure "evtx_dump (parse only)" "$(evtx_dump --version 2>/dev/null | awk '{print $NF}')" "$RUNS" none \
            "EVTX → JSONL, no detection: the floor" \
            bash -c 'for f in "$1"/*.evtx; do evtx_dump -o jsonl "$f" || exit; done' _ "$SET" || true
    fi
fi

# ---------------------------------------------------------------- reference figures
# From SOURCES.md beside the samples: "| tool | wall s (median) | peak MiB |"; a range (124–139)
# counts as its first number. Falls back to the figures of the brief if a row is not there.
ref_row() { # ref_row PATTERN DEFAULT_S DEFAULT_MIB -> "secs mib"
    local line
    line=$(grep -m 1 -iE "^\| *$1" "$EVTX_SRC/SOURCES.md" 2>/dev/null || true)
    if [[ -n $line ]]; then
        awk -F'|' '{
            s=$3; m=$4; gsub(/[^0-9.]+/, " ", s); gsub(/[^0-9.]+/, " ", m);
            split(s, a, " "); split(m, b, " "); print a[1], b[1] }' <<<"$line"
    else
        echo "$2 $3"
    fi
}
declare -A REF_LABEL=([hayabusa]="Hayabusa 3.10" [chainsaw]="Chainsaw 2.16.4" [rsigma]="rsigma 0.23")
declare -A REF_PATTERN=([hayabusa]="Hayabusa" [chainsaw]="Chainsaw" [rsigma]="rsigma")
declare -A REF_DEFAULT=([hayabusa]="19.1 519" [chainsaw]="124 277" [rsigma]="3.6 227")
for peer in hayabusa chainsaw rsigma; do
    [[ $MEASURED = *" $peer "* ]] && continue
    # shellcheck disable=SC2086 # two words: seconds and MiB
    read -r ref_s ref_mib < <(ref_row "${REF_PATTERN[$peer]}" ${REF_DEFAULT[$peer]})
    ROWS+=("${REF_LABEL[$peer]}|reference|-|$ref_s|$ref_mib|-|reference (not measured here), from SOURCES.md")
done

# ---------------------------------------------------------------- table
IFS='|' read -r _ _ _ OUR_S OUR_MIB _ _ <<<"${ROWS[0]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf (a/b < 1 ? "%.2fx" : "%.1fx"), a/b; else print "-" }'; }
evps() { awk -v s="$1" -v n="$EVENTS" 'BEGIN{ if (s+0 > 0) printf "%.0f", n/s; else print "-" }'; }

echo
echo "Hunt benchmark: $EVENTS records in $((COPIES * ${#SRC_FILES[@]})) EVTX files, $(nproc) cores, median of the runs"
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); anything else running skews the figures)"
echo "(ratios are the tool's figure over wardwatch's: time ratio > 1 means wardwatch is faster,"
echo " MiB ratio > 1 means wardwatch uses less memory)"
echo
{
    echo "tool|version|runs|median s|events/s|peak MiB|detections|time ratio|MiB ratio|what"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r n v r s m c what <<<"$row"
        [[ $m = NA ]] && m=n/a
        if [[ $s = failed ]]; then
            echo "$n|$v|$r|failed|-|-|-|-|-|$what"
        elif [[ $n = wardwatch ]]; then
            echo "$n|$v|$r|$s|$(evps "$s")|$m|$c|1.0x|1.0x|$what"
        else
            echo "$n|$v|$r|$s|$(evps "$s")|$m|$c|$(ratio "$s" "$OUR_S")|$(ratio "$m" "$OUR_MIB")|$what"
        fi
    done
} | column -t -s '|' -o '  '

# ---------------------------------------------------------------- targets
echo
MISSED=0
HB_S=""
HB_FROM=""
for row in "${ROWS[@]}"; do
    IFS='|' read -r n v _ s _ _ _ <<<"$row"
    if [[ $n = hayabusa && $s != failed ]]; then HB_S=$s; HB_FROM="measured here"; fi
    if [[ $n = "Hayabusa 3.10" && -z $HB_S ]]; then HB_S=$s; HB_FROM="reference, not measured here"; fi
done
for row in "${ROWS[@]}"; do
    IFS='|' read -r n _ _ s m _ _ <<<"$row"
    [[ $n = "wardwatch (before)" && $s != failed ]] || continue
    t_ratio=$(awk -v a="$OUR_S" -v b="$s" 'BEGIN{printf "%.2f", a/b}')
    verdict=met
    awk -v x="$t_ratio" 'BEGIN{exit !(x <= 1.10)}' || { verdict=MISSED; MISSED=1; }
    echo "target: time within 10% of the before binary: this build takes ${t_ratio}x its time: $verdict"
    if [[ $m != NA && $OUR_MIB != NA ]]; then
        m_ratio=$(awk -v a="$OUR_MIB" -v b="$m" 'BEGIN{printf "%.2f", a/b}')
        verdict=met
        awk -v x="$m_ratio" 'BEGIN{exit !(x <= 1.10)}' || { verdict=MISSED; MISSED=1; }
        echo "target: peak memory within 10% of the before binary: this build uses ${m_ratio}x its peak: $verdict"
    fi
done
if [[ -n $HB_S ]]; then
    SPEEDUP=$(awk -v a="$HB_S" -v b="$OUR_S" 'BEGIN{printf "%.1f", a/b}')
    if awk -v x="$SPEEDUP" -v t="$TARGET_SPEEDUP" 'BEGIN{exit !(x >= t)}'; then verdict=met; else verdict=MISSED; MISSED=1; fi
    echo "target: >= ${TARGET_SPEEDUP}x faster than Hayabusa end to end: ${SPEEDUP}x ($HB_FROM): $verdict"
fi
if [[ $OUR_MIB != NA ]]; then
    if ((OUR_MIB < TARGET_MIB)); then verdict=met; else verdict=MISSED; MISSED=1; fi
    echo "target: peak RSS < $TARGET_MIB MiB: $OUR_MIB MiB: $verdict"
fi
if [[ -n ${STRICT:-} ]] && ((MISSED)); then exit 1; fi
exit 0
