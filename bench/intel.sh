#!/usr/bin/env bash
# Indicator matching cost per event as the active set grows from 100 to 100,000 (issue 12:
# flat within 1.5x, at live ingest rates). Prints a markdown table; the "vs 100" column is the
# ratio to the smallest set. Release build of the example only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -p wardwatch-intel --example match_cost
