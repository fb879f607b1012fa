#!/usr/bin/env bash
# Whole-report comparison of snapmetrics against DuckDB on the same Parquet files.
#
#   benches/compare.sh                                   # 100k and 1M users, 5 runs each
#   SCALES=20000 RUNS=2 benches/compare.sh               # a quick check
#   LAYOUTS="generator append-only" benches/compare.sh   # both export layouts
#   ENGINES="snapmetrics peer" benches/compare.sh        # only against the tuned peer
#
# For each scale N in $SCALES (default "100000 1000000") and layout L in $LAYOUTS (default
# "generator") it generates (once, cached) the snapshot
# target/bench-data/users-N[-L]/2026-06-30 with `snapmetrics generate --seed 42 --layout L`
# (the generator's layout, or "append-only": user_events in time order, Snappy, the
# writer's default row groups; the same rows, so the same report), then runs the engines
# of $ENGINES (default "snapmetrics peer duckdb") in turn $RUNS times (default 5), the
# order rotating every run:
#   snapmetrics  ./target/release/snapmetrics report --store STORE --out target/bench-out/sm-…
#   definition   the same with --by-definition: user_events_summary by its SQL instead of
#                the built-in operator (src/engine/summary.rs), to measure what that buys
#   peer         benches/duckdb/peer.py SNAPSHOT_DIR --out target/bench-out/peer-… --threads $(nproc)
#                (a DuckDB user's fastest version of the report, vendored unchanged: its
#                docstring lists the techniques)
#   duckdb       benches/duckdb/report.py --store STORE --out target/bench-out/duckdb-…
#                (the same SQL: benches/duckdb/*.sql are copies of queries/ that
#                benches/duckdb/mirror.py refreshes at the start of every run)
# Each run is measured with /usr/bin/time (wall seconds, peak RSS). Every engine uses every
# core and its default memory limit (snapmetrics: half the machine's memory; DuckDB: 80%).
# SM_ARGS adds flags to `snapmetrics report`, DUCKDB_ARGS to report.py (e.g.
# --inline-summaries), PEER_ARGS to peer.py (e.g. --no-bitmap).
# It prints per snapshot the median wall time and peak memory of each engine and their
# ratios to snapmetrics, then checks each engine's files against snapmetrics': the mirror
# and the definition run must write every CSV byte-identical; the peer every metric file (its data_quality.csv
# names its checks its own way, so that one file is not compared). Exits 1 if any differ
# or an engine failed (its error is shown and the others are still measured); 2 on a
# setup error.
#
# Needs cargo, python3 (with venv) and network access to PyPI the first time: DuckDB
# 2.0.0 and pyarrow are pip-installed into target/duckdb-venv.
set -euo pipefail

cd "$(dirname "$0")/.."
source benches/common.sh
SCALES=${SCALES:-"100000 1000000"}
LAYOUTS=${LAYOUTS:-generator}
ENGINES=${ENGINES:-"snapmetrics peer duckdb"}
RUNS=${RUNS:-5}
SM_ARGS=${SM_ARGS:-}
DUCKDB_ARGS=${DUCKDB_ARGS:-}
PEER_ARGS=${PEER_ARGS:-}
SNAPSHOT=2026-06-30
SEED=42
DUCKDB_VERSION=2.0.0
SM=./target/release/snapmetrics


[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
for n in $SCALES; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "SCALES must be user counts, got '$n'"
done
for l in $LAYOUTS; do
    [[ $l == generator || $l == append-only ]] || die "LAYOUTS are 'generator' and 'append-only', got '$l'"
done
[[ " $ENGINES " == *" snapmetrics "* ]] || die "ENGINES must include snapmetrics (the others are compared with it), got '$ENGINES'"
for e in $ENGINES; do
    [[ $e == snapmetrics || $e == definition || $e == peer || $e == duckdb ]] || die "ENGINES are snapmetrics, definition, peer and duckdb, got '$e'"
done

# --- tools ------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (/usr/bin/time is missing)"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq time >/dev/null
fi

ensure_venv
if [[ $("$PY" -c 'import duckdb, pyarrow; print(duckdb.__version__)' 2>/dev/null) != "$DUCKDB_VERSION" ]]; then
    log "pip install duckdb==$DUCKDB_VERSION pyarrow into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION" pyarrow
fi

# The mirror runs the same SQL as snapmetrics: refresh its copies if queries/ changed.
python3 benches/duckdb/mirror.py

log "cargo build --release"
cargo build --release --quiet

# --- data -------------------------------------------------------------------------------
# store N LAYOUT: the store folder of that snapshot.
store() { [[ $2 == generator ]] && echo "target/bench-data/users-$1" || echo "target/bench-data/users-$1-$2"; }

generate() {
    local n=$1 layout=$2 dir
    dir=$(store "$n" "$layout")/$SNAPSHOT
    # Someone else (the criterion benches, another compare.sh) may be writing it now.
    while [[ ! -f $dir/_SUCCESS ]] && pgrep -f -- "generate --out $dir " >/dev/null; do
        log "waiting for another generator writing $dir"
        sleep 10
    done
    if [[ -f $dir/_SUCCESS ]]; then
        return
    fi
    rm -rf "$dir" # an interrupted generation: start again
    log "generating $n users ($layout layout) into $dir"
    "$SM" generate --out "$dir" --users "$n" --seed "$SEED" --layout "$layout" >/dev/null
}

# --- runs -------------------------------------------------------------------------------
short() { case $1 in snapmetrics) echo sm ;; definition) echo sm-definition ;; *) echo "$1" ;; esac; }

# run ENGINE KEY STORE RUN: one timed report into target/bench-out/ENGINE-KEY; appends
# "seconds kilobytes" to $WORK/ENGINE-KEY.times. A failed run is shown and recorded in
# $WORK/ENGINE-KEY.failed; that engine is not run again on this snapshot (the others
# still are), and the script ends non-zero.
run() {
    local engine=$1 key=$2 store=$3 i=$4 out status secs kb
    local timing=$WORK/timing
    local -a command
    out=target/bench-out/$(short "$engine")-$key
    # The *_ARGS word-split on purpose: extra flags, e.g. SM_ARGS="--memory-limit 8GB".
    # shellcheck disable=SC2206
    case $engine in
    snapmetrics) command=("$SM" report --store "$store" --out "$out" $SM_ARGS) ;;
    definition) command=("$SM" report --by-definition --store "$store" --out "$out" $SM_ARGS) ;;
    peer) command=("$PY" benches/duckdb/peer.py "$store/$SNAPSHOT" --out "$out" --threads "$(nproc)" $PEER_ARGS) ;;
    duckdb) command=("$PY" benches/duckdb/report.py --store "$store" --out "$out" $DUCKDB_ARGS) ;;
    esac
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
            "$i" "$secs" "$(awk -v k="$kb" 'BEGIN{print k/1024}')" "$status" >"$WORK/$engine-$key.failed"
        return
    fi
    echo "$secs $kb" >>"$WORK/$engine-$key.times"
    printf '  run %d  %-11s %8.2f s  %8.0f MB\n' "$i" "$engine" "$secs" "$(awk -v k="$kb" 'BEGIN{print k/1024}')"
}


# figures ENGINE KEY: "median_seconds peak_MB", or "FAILED FAILED".
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

# check ENGINE KEY: compares the engine's files with snapmetrics'; prints OK or DIFFER.
check() {
    local engine=$1 key=$2 ours theirs file name verdict=OK
    ours=target/bench-out/sm-$key
    theirs=target/bench-out/$(short "$engine")-$key
    for file in "$ours"/*.csv; do
        name=$(basename "$file")
        [[ $engine == peer && $name == data_quality.csv ]] && continue
        if ! cmp -s "$file" "$theirs/$name"; then
            verdict=DIFFER
            if [[ -f $theirs/$name ]]; then
                echo "--- $name: first differences (< snapmetrics, > $engine)" >&2
                diff "$file" "$theirs/$name" | head -n 20 >&2 || true
            else
                echo "--- $name: $engine did not write it" >&2
            fi
        fi
    done
    echo "$verdict"
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p target/bench-out
read -r -a engines <<<"$ENGINES"
others=()
for e in "${engines[@]}"; do [[ $e == snapmetrics ]] || others+=("$e"); done

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
duckdb_version=$("$PY" -c 'import duckdb; print(duckdb.__version__)')
sm_version=$("$SM" --version 2>/dev/null || echo snapmetrics)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- src Cargo.toml Cargo.lock queries 2>/dev/null | head -n 1)
echo "machine:   $(nproc) cores ($cpu), $mem RAM, $(uname -sr)"
echo "engines:   $sm_version (git $commit${dirty:+ + uncommitted changes in src/queries}), DuckDB $duckdb_version (Python $("$PY" -c 'import platform; print(platform.python_version())'))"
echo "settings:  all $(nproc) cores for every engine${SM_ARGS:+; snapmetrics report $SM_ARGS}${PEER_ARGS:+; peer.py $PEER_ARGS}${DUCKDB_ARGS:+; report.py $DUCKDB_ARGS}; runs rotate, $RUNS per engine per snapshot"
echo

status=0
summary=""
for n in $SCALES; do
    for layout in $LAYOUTS; do
        generate "$n" "$layout"
        key=$n-$layout
        st=$(store "$n" "$layout")
        echo "== $n users, $layout layout ($st/$SNAPSHOT, $(du -sh "$st/$SNAPSHOT" | cut -f1))"
        for ((i = 1; i <= RUNS; i++)); do
            # Rotate the order so no engine always runs first (or after the same one).
            order=("${engines[@]:$(((i - 1) % ${#engines[@]}))}" "${engines[@]:0:$(((i - 1) % ${#engines[@]}))}")
            for engine in "${order[@]}"; do
                [[ -f $WORK/$engine-$key.failed ]] || run "$engine" "$key" "$st" "$i"
            done
        done

        echo
        printf '%-12s %10s %14s %11s %11s  %s\n' engine "median s" "peak RSS MB" "sm/it time" "sm/it RSS" files
        read -r sm_med sm_mb < <(figures snapmetrics "$key")
        line=$(printf '%-9s %-12s %8s %8s' "$n" "$layout" "$(two "$sm_med")" "$sm_mb")
        for engine in "${engines[@]}"; do
            read -r med mb < <(figures "$engine" "$key")
            if [[ -f $WORK/$engine-$key.failed ]]; then
                printf '%-12s %s\n' "$engine" "$(cat "$WORK/$engine-$key.failed")"
                status=1
                verdict=-
            elif [[ $engine == snapmetrics ]]; then
                printf '%-12s %10.2f %14s\n' "$engine" "$med" "$mb"
                continue
            else
                if [[ $sm_med == FAILED ]]; then verdict="not compared"; else verdict=$(check "$engine" "$key"); fi
                [[ $verdict == OK ]] || status=1
                printf '%-12s %10.2f %14s %11s %11s  %s\n' "$engine" "$med" "$mb" \
                    "$(ratio "$sm_med" "$med")" "$(ratio "$sm_mb" "$mb")" "$verdict"
            fi
            line+=$(printf '  %8s %8s %6s %6s %-6s' "$(two "$med")" "$mb" "$(ratio "$sm_med" "$med")" "$(ratio "$sm_mb" "$mb")" "$verdict")
        done
        echo
        summary+=$line$'\n'
    done
done

echo "== summary ($(nproc) cores; median wall seconds and max peak RSS (MB) of $RUNS runs per engine; ratios are snapmetrics/engine)"
header=$(printf '%-9s %-12s %8s %8s' users layout "sm s" "sm MB")
for e in "${others[@]}"; do
    header+=$(printf '  %8s %8s %6s %6s %-6s' "$e s" "$e MB" time RSS files)
done
echo "$header"
printf '%s' "$summary"
exit "$status"
