#!/usr/bin/env bash
# Whole-report comparison of snapmetrics against DuckDB on the same Parquet files.
#
#   benches/compare.sh                      # 100k and 1M users, 5 runs each
#   SCALES=20000 RUNS=2 benches/compare.sh  # a quick check
#
# For each scale N in $SCALES (default "100000 1000000") it generates (once, cached) the
# snapshot target/bench-data/users-N/2026-06-30 with `snapmetrics generate --seed 42`, then
# runs the two engines alternately $RUNS times (default 5), the first engine swapping
# every run:
#   snapmetrics  ./target/release/snapmetrics report --store target/bench-data/users-N --out target/bench-out/sm-N
#   DuckDB       benches/duckdb/report.py --store target/bench-data/users-N --out target/bench-out/duckdb-N
#                (the same SQL: benches/duckdb/*.sql are copies of queries/ that
#                benches/duckdb/mirror.py refreshes at the start of every run)
# Each run is measured with /usr/bin/time (wall seconds, peak RSS). Both engines get
# their defaults: every core for both, each one's default memory limit (snapmetrics: half
# the machine's memory; DuckDB: 80%). SM_ARGS adds flags to `snapmetrics report`,
# DUCKDB_ARGS to report.py (e.g. --inline-summaries: DuckDB plans the summaries into
# each metric instead of computing them once, as snapmetrics does).
# It prints per scale the median wall time of each engine, the ratio
# snapmetrics/DuckDB and each engine's peak memory, then diffs the five CSV files both
# wrote (cohort_retention, activation, onboarding_dropoff, vanity_monthly, data_quality)
# and exits 1 if any differ or an engine failed (its error is shown and the other engine
# is still measured); 2 on a setup error.
#
# Needs cargo, python3 (with venv) and network access to PyPI the first time: DuckDB is
# pip-installed into target/duckdb-venv.
set -euo pipefail

cd "$(dirname "$0")/.."
SCALES=${SCALES:-"100000 1000000"}
RUNS=${RUNS:-5}
SM_ARGS=${SM_ARGS:-}
DUCKDB_ARGS=${DUCKDB_ARGS:-}
SNAPSHOT=2026-06-30
SEED=42
VENV=target/duckdb-venv
PY=$VENV/bin/python
SM=./target/release/snapmetrics
METRICS="cohort_retention activation onboarding_dropoff vanity_monthly data_quality"

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 2; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
for n in $SCALES; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "SCALES must be user counts, got '$n'"
done

# --- tools ------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (/usr/bin/time is missing)"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq time >/dev/null
fi

if [[ ! -x $PY ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import duckdb' 2>/dev/null; then
    log "pip install duckdb into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check duckdb
fi

# DuckDB runs the same SQL as snapmetrics: refresh its copies if queries/ changed.
python3 benches/duckdb/mirror.py

log "cargo build --release"
cargo build --release --quiet

# --- data -------------------------------------------------------------------------------
snapshot_dir() { echo "target/bench-data/users-$1/$SNAPSHOT"; }

generate() {
    local n=$1 dir
    dir=$(snapshot_dir "$n")
    # Someone else (the criterion benches, another compare.sh) may be writing it now.
    while [[ ! -f $dir/_SUCCESS ]] && pgrep -f -- "generate --out $dir " >/dev/null; do
        log "waiting for another generator writing $dir"
        sleep 10
    done
    if [[ -f $dir/_SUCCESS ]]; then
        return
    fi
    rm -rf "$dir" # an interrupted generation: start again
    log "generating $n users into $dir"
    "$SM" generate --out "$dir" --users "$n" --seed "$SEED" >/dev/null
}

# --- runs -------------------------------------------------------------------------------
# run ENGINE N RUN: one timed report; appends "seconds kilobytes" to $WORK/ENGINE-N.times.
# A failed run is shown and recorded in $WORK/ENGINE-N.failed; that engine is not run
# again at this scale (the other one still is), and the script ends non-zero.
run() {
    local engine=$1 n=$2 i=$3 out status
    local store=target/bench-data/users-$n timing=$WORK/timing
    local -a command
    if [[ $engine == snapmetrics ]]; then
        out=target/bench-out/sm-$n
        # SM_ARGS word-splits on purpose: extra flags, e.g. SM_ARGS="--memory-limit 8GB".
        # shellcheck disable=SC2206
        command=("$SM" report --store "$store" --out "$out" $SM_ARGS)
    else
        out=target/bench-out/duckdb-$n
        command=("$PY" benches/duckdb/report.py --store "$store" --out "$out" $DUCKDB_ARGS)
    fi
    rm -rf "$out"
    set +e
    /usr/bin/time -f '%e %M' -o "$timing" "${command[@]}" >"$WORK/$engine.log" 2>&1
    status=$?
    set -e
    # GNU time may put "Command exited with non-zero status" first; the figures are last.
    read -r secs kb < <(tail -n 1 "$timing")
    if [[ $status -ne 0 ]]; then
        printf '  run %d  %-11s FAILED (exit %d) after %.2f s, peak RSS %.0f MB:\n' \
            "$i" "$engine" "$status" "$secs" "$(awk -v k="$kb" 'BEGIN{print k/1024}')"
        tail -n 5 "$WORK/$engine.log" | sed 's/^/      /'
        printf 'FAILED in run %d after %.0f s (peak RSS %.0f MB), exit %d\n' \
            "$i" "$secs" "$(awk -v k="$kb" 'BEGIN{print k/1024}')" "$status" >"$WORK/$engine-$n.failed"
        return
    fi
    echo "$secs $kb" >>"$WORK/$engine-$n.times"
    printf '  run %d  %-11s %8.2f s  %8.0f MB\n' "$i" "$engine" "$secs" "$(awk -v k="$kb" 'BEGIN{print k/1024}')"
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# figures ENGINE N: "median_seconds peak_MB", or "FAILED FAILED".
figures() {
    local file=$WORK/$1-$2
    if [[ -f $file.failed || ! -s $file.times ]]; then
        echo "FAILED FAILED"
        return
    fi
    echo "$(cut -d' ' -f1 "$file.times" | median) $(cut -d' ' -f2 "$file.times" | sort -g | tail -n 1 | awk '{printf "%.0f", $1/1024}')"
}

two() { [[ $1 == FAILED ]] && echo FAILED || printf '%.2f' "$1"; }

ratio() { [[ $1 == FAILED || $2 == FAILED ]] && echo "-" || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p target/bench-out

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
duckdb_version=$("$PY" -c 'import duckdb; print(duckdb.__version__)')
sm_version=$("$SM" --version 2>/dev/null || echo snapmetrics)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- src Cargo.toml Cargo.lock queries 2>/dev/null | head -n 1)
echo "machine:   $(nproc) cores ($cpu), $mem RAM, $(uname -sr)"
echo "engines:   $sm_version (git $commit${dirty:+ + uncommitted changes in src/queries}), DuckDB $duckdb_version (Python $("$PY" -c 'import platform; print(platform.python_version())'))"
echo "settings:  defaults for both (all $(nproc) cores${SM_ARGS:+; snapmetrics report $SM_ARGS}${DUCKDB_ARGS:+; report.py $DUCKDB_ARGS}); runs alternate, $RUNS per engine per scale"
echo

status=0
summary=""
for n in $SCALES; do
    generate "$n"
    dir=$(snapshot_dir "$n")
    echo "== $n users ($dir, $(du -sh "$dir" | cut -f1))"
    for ((i = 1; i <= RUNS; i++)); do
        if ((i % 2)); then order="snapmetrics duckdb"; else order="duckdb snapmetrics"; fi
        for engine in $order; do
            [[ -f $WORK/$engine-$n.failed ]] || run "$engine" "$n" "$i"
        done
    done

    read -r sm_med sm_mb < <(figures snapmetrics "$n")
    read -r dk_med dk_mb < <(figures duckdb "$n")
    echo
    printf '%-12s %10s %14s\n' engine "median s" "peak RSS MB"
    for engine in snapmetrics duckdb; do
        if [[ -f $WORK/$engine-$n.failed ]]; then
            printf '%-12s %s\n' "$engine" "$(cat "$WORK/$engine-$n.failed")"
        elif [[ $engine == snapmetrics ]]; then
            printf '%-12s %10.2f %14s\n' "$engine" "$sm_med" "$sm_mb"
        else
            printf '%-12s %10.2f %14s\n' "$engine" "$dk_med" "$dk_mb"
        fi
    done
    ratio_time=$(ratio "$sm_med" "$dk_med")
    ratio_mem=$(ratio "$sm_mb" "$dk_mb")
    echo "ratio snapmetrics/duckdb: time $ratio_time, peak memory $ratio_mem"

    if [[ $sm_med == FAILED || $dk_med == FAILED ]]; then
        outputs="not compared"
        echo "outputs: not compared (an engine failed)"
        status=1
    else
        outputs=OK
        for m in $METRICS; do
            a=target/bench-out/sm-$n/$m.csv
            b=target/bench-out/duckdb-$n/$m.csv
            if ! cmp -s "$a" "$b"; then
                [[ $outputs == DIFFER ]] || echo "outputs: DIFFER"
                outputs=DIFFER
                echo "--- $m.csv: first differences (< snapmetrics, > duckdb)"
                diff "$a" "$b" | head -n 20 || true
            fi
        done
        if [[ $outputs == OK ]]; then
            echo "outputs: OK (the 5 CSV files are byte-identical)"
        else
            status=1
        fi
    fi
    echo
    summary+=$(printf '%-9s %13s %10s %7s %11s %11s  %s' "$n" "$(two "$sm_med")" "$(two "$dk_med")" "$ratio_time" "$sm_mb" "$dk_mb" "$outputs")$'\n'
done

echo "== summary ($(nproc) cores; median wall seconds and max peak RSS of $RUNS runs per engine)"
printf '%-9s %13s %10s %7s %11s %11s  %s\n' users "snapmetrics s" "duckdb s" ratio "sm RSS MB" "dk RSS MB" outputs
printf '%s' "$summary"
exit "$status"
