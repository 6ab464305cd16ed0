#!/usr/bin/env bash
# Seed fuzz/corpus/<target>/ from ../shared/data (read in place; the corpus folder is ignored by
# git, so nothing is copied into the project) plus a few hand-written records.
# Usage: fuzz/seed-corpus.sh [path/to/shared/data]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${1:-$here/../../shared/data}"
corpus="$here/corpus"
mkdir -p "$corpus"/{jsonl_line,syslog_line,eve_line,evtx_bytes,detect_format}

put() { # target, file with the bytes
  local sum
  sum="$(sha1sum "$2" | cut -c1-40)"
  cp "$2" "$corpus/$1/$sum"
}
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT

# Suricata EVE: the first line of each event type in each file.
for f in "$data"/network/suricata/*/*.json; do
  [ -e "$f" ] || continue
  awk 'match($0, /"event_type":"[^"]*"/) { t = substr($0, RSTART, RLENGTH); if (!(t in seen)) { seen[t] = 1; print } }' "$f" |
    while IFS= read -r line; do
      printf '%s' "$line" >"$tmp"
      put eve_line "$tmp"
      put jsonl_line "$tmp"
    done
done

# EVTX: the file header and the first chunk of each dense sample.
for f in "$data"/evtx/dense-samples/*.evtx; do
  [ -e "$f" ] || continue
  head -c $((4096 + 65536)) "$f" >"$tmp"
  put evtx_bytes "$tmp"
done

# Hand-written records for the shapes the shared data lacks.
while IFS= read -r line; do
  printf '%s' "$line" >"$tmp"
  put jsonl_line "$tmp"
  put detect_format "$tmp"
done <<'JSON'
{"@timestamp":"2024-03-01T10:00:00Z","winlog":{"channel":"Security","event_id":4624,"computer_name":"DC01","event_data":{"TargetUserName":"alice","IpAddress":"10.1.2.3"}},"host":{"name":"wec"}}
{"winlog.channel":"Microsoft-Windows-Sysmon/Operational","winlog.event_id":"1","winlog.event_data.Image":"C:\\x.exe","process.command_line":"x"}
{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"ws","EventTime":"2020-08-07 10:32:22","Image":"C:\\a.exe"}
{"TimeCreated":"/Date(1603335121720)/","EventId":7045,"MachineName":"m","EventData":{"ImagePath":"x"}}
{"ts":1591367999.305988,"uid":"C1","id.orig_h":"10.0.0.1"}
JSON
while IFS= read -r line; do
  printf '%s' "$line" >"$tmp"
  put syslog_line "$tmp"
  put detect_format "$tmp"
done <<'SYSLOG'
<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][p@1 class="high" class="urgent"] An application event log entry
<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8
<13>Feb 29 10:00:00 h app: x
<34>1 - - - - - - hello
<134>Mar  1 11:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|THREAT|url|3|src=10.0.0.5 dst=1.2.3.4 dpt=80 suser=HOSP\\bob request=http://bad.example/x
<14>Mar  1 11:00:00 ehr01 audit[77]: {"user":{"name":"nurse1"},"message":"viewed chart"}
<14>Mar  1 11:00:00 h app: @cee: {"host":{"name":"inner"},"a":1}
<30>Oct 12 2019 12:00:00 host sshd[22]: Accepted password for root from 10.0.0.1 port 22 ssh2
SYSLOG

for t in "$corpus"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) inputs"; done
