#!/usr/bin/env bash
# The report's time on the same rows in different Parquet layouts of `user_events`: the
# measurement behind the exporter's layout (docs/DECISIONS.md, "Export from PostgreSQL").
#
#   benches/layouts.sh                   # 100k users, 3 runs of each layout
#   USERS=20000 RUNS=1 benches/layouts.sh
#
# From the generated snapshot target/bench-data/users-N/2026-06-30 (`snapmetrics generate
# --seed 42`, made once) it writes, with pyarrow, one snapshot per layout under
# target/bench-data/layouts-N/LAYOUT/2026-06-30 — every other table copied as is, and
# `user_events` rewritten as LAYOUT says:
#   by-user          rows in user order (as the generator writes them), ZSTD, 256 Ki-row groups
#   by-time          rows in time order (as an append-only table exports), ZSTD, 256 Ki
#   by-time-snappy   time order, Snappy, 256 Ki
#   by-time-plain    time order, uncompressed, 256 Ki
#   by-time-64k      time order, ZSTD, 64 Ki-row groups
#   by-time-1m       time order, ZSTD, 1 Mi-row groups
#   by-time-month    time order in month=YYYY-MM/ folders, ZSTD, 256 Ki
#   by-user-month    user order within month=YYYY-MM/ folders, ZSTD, 256 Ki
# then runs `snapmetrics report` on each, $RUNS times (default 3), the order rotating every
# run, and prints the median wall time and peak RSS per layout and the file size of
# user_events. Every layout must give the same report files (checked; exit 1 otherwise).
set -euo pipefail

cd "$(dirname "$0")/.."
source benches/common.sh
USERS=${USERS:-100000}
RUNS=${RUNS:-3}
LAYOUTS=${LAYOUTS:-"by-user by-time by-time-snappy by-time-plain by-time-64k by-time-1m by-time-month by-user-month"}
SNAPSHOT=2026-06-30
SM=./target/release/snapmetrics
BASE=target/bench-data/users-$USERS
ROOT=target/bench-data/layouts-$USERS
OUT=target/bench-out/layouts

[[ $USERS =~ ^[1-9][0-9]*$ ]] || die "USERS must be a user count, got '$USERS'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ -x /usr/bin/time ]] || die "no /usr/bin/time (apt-get install time)"

ensure_venv
"$PY" -c 'import pyarrow' 2>/dev/null || "$PY" -m pip install -q pyarrow
cargo build --release --locked -q
[[ -e $BASE/$SNAPSHOT/_SUCCESS ]] || "$SM" generate --out "$BASE/$SNAPSHOT" --users "$USERS" --seed 42

for layout in $LAYOUTS; do
    dir=$ROOT/$layout/$SNAPSHOT
    [[ -e $dir/_SUCCESS ]] && continue
    log "writing $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    for entry in "$BASE/$SNAPSHOT"/*; do
        [[ $(basename "$entry") == user_events || $(basename "$entry") == _SUCCESS ]] || cp -r "$entry" "$dir/"
    done
    "$PY" - "$BASE/$SNAPSHOT/user_events" "$dir/user_events" "$layout" <<'EOF'
import os, sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.dataset as ds, pyarrow.parquet as pq

source, target, layout = sys.argv[1:]
table = ds.dataset(source, format="parquet").to_table()
by_time = layout.startswith("by-time")
order = [("event_timestamp", "ascending"), ("id", "ascending")] if by_time else \
        [("user_id", "ascending"), ("event_timestamp", "ascending"), ("id", "ascending")]
compression = {"snappy": "snappy", "plain": "none"}.get(layout.split("-")[-1], "zstd")
rows = {"64k": 64 * 1024, "1m": 1024 * 1024}.get(layout.split("-")[-1], 256 * 1024)

def write(part, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(part.sort_by(order), path, compression=compression, row_group_size=rows,
                   write_statistics=True)

if layout.endswith("-month"):
    month = pc.strftime(table["event_timestamp"], format="%Y-%m")
    for m in sorted(pc.unique(month).to_pylist()):
        write(table.filter(pc.equal(month, m)), f"{target}/month={m}/part-00000.parquet")
else:
    write(table, f"{target}/part-00000.parquet")
EOF
    touch "$dir/_SUCCESS"
done

rm -rf "$OUT" && mkdir -p "$OUT"
set -- $LAYOUTS
count=$#
for run in $(seq 1 "$RUNS"); do
    order=("$@")
    shift_by=$(( (run - 1) % count ))
    order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
    for layout in "${order[@]}"; do
        out=$OUT/$layout-$run
        /usr/bin/time -f '%e %M' -o "$OUT/time" "$SM" report --store "$ROOT/$layout" --out "$out" >/dev/null
        cat "$OUT/time" >>"$OUT/$layout.times"
    done
done

status=0
printf '%-16s %9s %9s %10s\n' layout "time (s)" "RSS (MB)" "events MB"
for layout in "$@"; do
    t=$(cut -d' ' -f1 "$OUT/$layout.times" | median)
    m=$(cut -d' ' -f2 "$OUT/$layout.times" | median)
    size=$(du -sm "$ROOT/$layout/$SNAPSHOT/user_events" | cut -f1)
    printf '%-16s %9.2f %9.0f %10s\n' "$layout" "$t" "$((m / 1024))" "$size"
    for file in "$OUT/$1-1"/*.csv; do
        cmp -s "$file" "$OUT/$layout-1/$(basename "$file")" || { log "$layout: $(basename "$file") differs from $1's"; status=1; }
    done
done
exit $status
