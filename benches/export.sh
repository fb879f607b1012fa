#!/usr/bin/env bash
# `snapmetrics export` against its floor: the same binary COPYs, piped to /dev/null by psql.
#
#   benches/export.sh                  # 100k users, 3 runs
#   USERS=1000000 RUNS=3 benches/export.sh
#   JOBS=1 benches/export.sh           # one reader connection (default 2, as the CLI's)
#
# It generates (once, cached) target/bench-data/users-N/2026-06-30 with `snapmetrics
# generate --seed 42`, starts a PostgreSQL server of its own (initdb + pg_ctl from Debian's
# postgresql package, as the `postgres` user when run as root; data in
# target/bench-pg-N, kept between runs, fsync off) on 127.0.0.1:$PORT (default 55432),
# loads the snapshot into database `app` once (pyarrow → CSV → COPY FROM STDIN; `users`
# gets a `password_hash` column, as the application's table has), then alternates $RUNS
# times:
#   export  ./target/release/snapmetrics export --source postgres://snap@127.0.0.1:PORT/app
#           --jobs $JOBS
#   floor   psql running the very COPY statements the export ran (read from the server's
#           log: log_statement=all), output to /dev/null, one after another
#   floor2  the same statements two at a time, largest first (the floor of two readers
#           sharing pg_export_snapshot(), as --jobs 2 reads)
# Each is measured with /usr/bin/time (wall seconds, peak RSS). It prints the medians,
# rows/s and the export/floor ratio, and stops the server at the end.
#
# Needs cargo, python3 (with venv; pyarrow is pip-installed into target/duckdb-venv, the
# venv benches/compare.sh uses) and PostgreSQL's server binaries.
set -euo pipefail

cd "$(dirname "$0")/.."
source benches/common.sh
USERS=${USERS:-100000}
RUNS=${RUNS:-3}
PORT=${PORT:-55432}
JOBS=${JOBS:-2}
SNAPSHOT=2026-06-30
SM=./target/release/snapmetrics
DATA=$PWD/target/bench-data/users-$USERS
PGDATA=$PWD/target/bench-pg-$USERS
OUT=$PWD/target/bench-out/export


[[ $USERS =~ ^[1-9][0-9]*$ ]] || die "USERS must be a user count, got '$USERS'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "JOBS must be a positive integer, got '$JOBS'"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $BIN/initdb ]] || die "no PostgreSQL server binaries (apt-get install postgresql)"
[[ -x /usr/bin/time ]] || die "no /usr/bin/time (apt-get install time)"

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

ensure_venv
"$PY" -c 'import pyarrow' 2>/dev/null || "$PY" -m pip install -q pyarrow

cargo build --release --locked -q
if [[ ! -e $DATA/$SNAPSHOT/_SUCCESS ]]; then
    log "generating $DATA/$SNAPSHOT"
    "$SM" generate --out "$DATA/$SNAPSHOT" --users "$USERS" --seed 42
fi

# --- the server ---------------------------------------------------------------------
if [[ ! -e $PGDATA/PG_VERSION ]]; then
    log "initdb $PGDATA"
    mkdir -p "$PGDATA"
    [[ $(id -u) -eq 0 ]] && chown postgres "$PGDATA"
    chmod 700 "$PGDATA"
    as_pg "$BIN/initdb" -D "$PGDATA" -U snap --auth=trust -E UTF8 --no-sync >/dev/null
fi
as_pg "$BIN/pg_ctl" -D "$PGDATA" -w -t 120 -l "$PGDATA/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c log_statement=all -c max_wal_size=8GB" \
    start >/dev/null
trap 'as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null || true' EXIT
PSQL=(psql -h 127.0.0.1 -p "$PORT" -U snap -X -q -v ON_ERROR_STOP=1)

if [[ ! -e $PGDATA/loaded ]]; then
    log "loading $DATA/$SNAPSHOT into database app"
    # Resumable: the database and each loaded table leave a marker in $PGDATA.
    if [[ ! -e $PGDATA/created ]]; then
        "${PSQL[@]}" -d postgres -c 'DROP DATABASE IF EXISTS app' -c 'CREATE DATABASE app'
        touch "$PGDATA/created"
    fi
    "$PY" - "$DATA/$SNAPSHOT" "$PORT" "$PGDATA" <<'EOF'
import os, subprocess, sys
import pyarrow as pa, pyarrow.csv as csv, pyarrow.dataset as ds

snapshot, port, pgdata = sys.argv[1:4]
psql = ["psql", "-h", "127.0.0.1", "-p", port, "-U", "snap", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "app"]
JSON = {("user_events", "metadata"), ("onboarding_responses", "responses")}

def pg_type(table, field):
    t = field.type
    if pa.types.is_int64(t): return "bigint"
    if pa.types.is_int32(t): return "integer"
    if pa.types.is_boolean(t): return "boolean"
    if pa.types.is_date32(t): return "date"
    if pa.types.is_timestamp(t): return "timestamptz"
    if pa.types.is_decimal(t): return "numeric(18,2)"
    if pa.types.is_floating(t): return "double precision"
    if (table, field.name) in JSON: return "json"
    return "text"

for table in sorted(os.listdir(snapshot)):
    path = os.path.join(snapshot, table)
    marker = os.path.join(pgdata, f"loaded-{table}")
    if not os.path.isdir(path) or os.path.exists(marker):
        continue
    data = ds.dataset(path, format="parquet", partitioning=None)
    names = ", ".join(f'"{f.name}"' for f in data.schema)
    columns = [f'"{f.name}" {pg_type(table, f)}' for f in data.schema]
    subprocess.run(psql + ["-c", f'DROP TABLE IF EXISTS "{table}"'], check=True)
    if table == "users" and "password_hash" not in data.schema.names:
        columns.append("password_hash text NOT NULL DEFAULT 'bench-secret'")
    subprocess.run(psql + ["-c", f'CREATE TABLE "{table}" ({", ".join(columns)})'], check=True)
    copy = subprocess.Popen(psql + ["-c", f'COPY "{table}" ({names}) FROM STDIN (FORMAT csv)'],
                            stdin=subprocess.PIPE)
    options = csv.WriteOptions(include_header=False, quoting_style="all_valid")
    with csv.CSVWriter(copy.stdin, data.schema, write_options=options) as writer:
        for batch in data.to_batches(batch_size=65536):
            writer.write_batch(batch)
    copy.stdin.close()
    if copy.wait() != 0:
        sys.exit(f"loading {table} failed")
    open(marker, "w").close()
    print(f"loaded {table}", file=sys.stderr)
EOF
    "${PSQL[@]}" -d app -c 'VACUUM ANALYZE'
    touch "$PGDATA/loaded"
fi

# --- the runs -----------------------------------------------------------------------
rm -rf "$OUT" && mkdir -p "$OUT"
export_once() {
    rm -rf "$OUT/store"
    /usr/bin/time -f '%e %M' -o "$OUT/time" \
        "$SM" export --source "postgres://snap@127.0.0.1:$PORT/app" --out "$OUT/store" --id run --jobs "$JOBS" >"$OUT/export.log" 2>&1 \
        || { cat "$OUT/export.log" >&2; die "the export failed"; }
    cat "$OUT/time" >>"$OUT/export.times"
}
floor_once() {
    /usr/bin/time -f '%e %M' -o "$OUT/time" bash -c '
        while IFS= read -r statement; do
            "$@" -d app -c "$statement" >/dev/null
        done <"'"$OUT"'/statements"' _ "${PSQL[@]}"
    cat "$OUT/time" >>"$OUT/floor.times"
}
floor2_once() {
    /usr/bin/time -f '%e %M' -o "$OUT/time" \
        xargs -P 2 -d '\n' -I '{}' "${PSQL[@]}" -d app -c '{}' <"$OUT/statements" >/dev/null
    cat "$OUT/time" >>"$OUT/floor2.times"
}

# The first export, unmeasured, warms the server's cache and shows the statements it ran.
lines=$(wc -l <"$PGDATA/server.log")
export_once
: >"$OUT/export.times"
tail -n +"$((lines + 1))" "$PGDATA/server.log" | sed -n -E 's/.*(statement|execute [^:]*): (COPY \(SELECT .*)$/\2/p' >"$OUT/statements"
[[ -s $OUT/statements ]] || die "no COPY statement found in $PGDATA/server.log"
log "the floor runs $(wc -l <"$OUT/statements") COPY statements"
rows=$(grep -o '[0-9]* rows in' "$OUT/export.log" | awk '{s += $1} END {print s}')

for run in $(seq 1 "$RUNS"); do
    if ((run % 2)); then export_once; floor_once; floor2_once; else floor2_once; floor_once; export_once; fi
    log "run $run: export $(tail -1 "$OUT/export.times"), floor $(tail -1 "$OUT/floor.times"), floor2 $(tail -1 "$OUT/floor2.times") (s, KiB)"
done

e=$(cut -d' ' -f1 "$OUT/export.times" | median)
f=$(cut -d' ' -f1 "$OUT/floor.times" | median)
f2=$(cut -d' ' -f1 "$OUT/floor2.times" | median)
m=$(cut -d' ' -f2 "$OUT/export.times" | median)
awk -v n="$USERS" -v j="$JOBS" -v r="$rows" -v e="$e" -v f="$f" -v f2="$f2" -v m="$m" 'BEGIN {
    printf "%d users, %d rows: export (--jobs %d) %.1f s (%.2f M rows/s, peak RSS %.0f MB); floor one at a time %.1f s (%.2f M rows/s): ratio %.2f; floor two at a time %.1f s: ratio %.2f\n",
        n, r, j, e, r / e / 1e6, m / 1024, f, r / f / 1e6, e / f, f2, e / f2
}'
