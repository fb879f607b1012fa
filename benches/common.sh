# Shared by the bench scripts (sourced, not run): messages, the Python venv, medians.

VENV=target/duckdb-venv
PY=$VENV/bin/python

log() { printf '%s\n' "$*" >&2; }
die() { log "$(basename "$0"): $*"; exit 2; }

# The venv every bench's Python runs in, created on first use.
ensure_venv() {
    if [[ ! -x $PY ]]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
    fi
}

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
