#!/usr/bin/env python3
# Vendored unchanged (below this header) from the product team's benchmark kit, where it is
# `bench/duckdb_peer.py` (sha256 a89c7720cd8a92b2…): the tuned DuckDB report snapmetrics is
# measured against by benches/compare.sh (engine "peer"). "SPEC.md §1" below is the store
# layout in README.md ("Store layout"); "SPEC.md §5" the report files in docs/METRICS.md.
# Do not edit it to make it agree with snapmetrics: it is the peer as its author wrote it.
"""A DuckDB user's fastest version of the snapmetrics report: the peer to benchmark against.

usage: duckdb_peer.py SNAPSHOT_DIR --out REPORT_DIR [--from DATE] [--to DATE] [--active-only]
                      [--event-types a,b] [--transactions-source l1|legacy] [--bank NAME]
                      [--allow-incomplete] [--threads T (default 2)] [--no-bitmap]

It reads one snapshot folder (the layout of SPEC.md §1), computes the report files of SPEC.md
§5 (the five original ones and the six activity files) in DuckDB, and writes them atomically
with a manifest. It is written the way a performance-minded DuckDB user would write it:

* No wide temp tables. The big fact tables (user_events, transactions, l1_transaction_facts)
  are read straight from Parquet, only the needed columns, timestamps turned into int64
  epoch microseconds and weeks into integer week numbers (no ICU / date_trunc per row).
* user_events is scanned once into a (user_id, week) pre-aggregate that carries everything
  every metric and check needs: row count, rows after as_of, "has an engagement event", a
  7-bit mask of the active days, first and last login instant. Users are joined to that
  small table, not to the events.
* Duplicate ids: a bitmap (bitstring_agg over the id range from the Parquet footers) proves
  "no duplicates" in one cheap pass; only when it finds some do chunks of 64 ids locate them
  and GROUP BY id HAVING count(*) > 1 runs on those chunks only (--no-bitmap: plain
  GROUP BY id over all rows). Small id sets are applied with "(id IN (..)) IS TRUE" / NOT IN.
* Transactions are classified and aggregated for every metric in one pass with GROUPING SETS.
* Retention is |E| + |T| - |E and T| per (cohort, k) (E: event weeks, already distinct; T:
  upload weeks), so only the small T is joined, never a UNION over every (user, week).
* Filters and as_of are bound as parameters, never spliced into the SQL text.

Where SPEC.md leaves a reading open (data-quality table names, --bank and uploads, UTC only:
no --tz), this file takes its own; compare the metric files, not data_quality.csv names.
The last line printed is `peer_seconds=X.XXX` (argument parsing to written report).
"""
import argparse
import csv
import datetime as dt
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

TABLES = ["users", "user_events", "transactions", "l1_transaction_facts",
          "l0_user_tokenization", "l0_pii_users", "onboarding_responses"]

# (column, category, required, normalised name). Categories: int, ts, date, str, bool.
# Timestamps become BIGINT epoch microseconds (UTC instants), named *_us.
COLUMNS = {
    "users": [("id", "int", True, "id"), ("created_at", "ts", True, "created_us"),
              ("is_active", "bool", False, "is_active")],
    "user_events": [("id", "int", True, "id"), ("user_id", "int", True, "user_id"),
                    ("event_type", "str", True, "event_type"),
                    ("event_timestamp", "ts", True, "us")],
    "transactions": [("id", "int", True, "id"), ("user_id", "int", True, "user_id"),
                     ("date", "date", True, "tdate"), ("account", "str", True, "account"),
                     ("created_at", "ts", True, "created_us"),
                     ("upload_session_id", "str", False, "sess")],
    "l1_transaction_facts": [("id", "int", True, "id"), ("tokenized_user_id", "str", True, "tok"),
                             ("transaction_date", "date", True, "tdate"),
                             ("account", "str", True, "account"),
                             ("created_at", "ts", True, "created_us"),
                             ("upload_session_id", "str", False, "sess")],
    "l0_user_tokenization": [("internal_user_id", "int", True, "user_id"),
                             ("tokenized_user_id", "str", True, "tok")],
    "l0_pii_users": [("internal_user_id", "int", True, "user_id")],
    "onboarding_responses": [("id", "int", True, "id"), ("user_id", "int", True, "user_id"),
                             ("started_at", "ts", True, "started_us"),
                             ("total_steps", "int", True, "total_steps"),
                             ("last_step_completed", "int", True, "last_step"),
                             ("completed_at", "ts", True, "completed_us")],
}
SQL_TYPE = {"int": "BIGINT", "ts": "BIGINT", "date": "DATE", "str": "VARCHAR", "bool": "BOOLEAN"}
EXPECTED = {"int": "any integer", "ts": "Timestamp (any unit, with or without zone)",
            "date": "Date32", "str": "Utf8 | LargeUtf8 | Utf8View", "bool": "Boolean"}

DQ_CHECKS = {
    "users": ["duplicate_id"],
    "user_events": ["duplicate_id", "orphan_user_id", "after_as_of", "before_signup_week"],
    "transactions": ["duplicate_id", "orphan_user_id", "after_as_of", "before_signup_week"],
    "l1_transaction_facts": ["duplicate_id", "unmapped_token", "orphan_user_id", "after_as_of",
                             "before_signup_week"],
    "l0_user_tokenization": ["duplicate_token", "orphan_user_id"],
    "l0_pii_users": ["orphan_user_id"],
    "onboarding_responses": ["duplicate_id", "orphan_user_id", "last_step_out_of_range",
                             "duplicate_user_id"],
}
REPORT_COLUMNS = {
    "cohort_retention.csv": ["cohort_week", "cohort_size", "week_offset", "retained_users",
                             "retention_rate", "is_complete"],
    "activation.csv": ["cohort_week", "cohort_size", "started_onboarding", "completed_onboarding",
                       "completion_rate", "median_hours_to_complete"],
    "onboarding_dropoff.csv": ["cohort_week", "step", "reached_step", "dropped_at_step"],
    "vanity_monthly.csv": ["month", "total_users", "new_users", "mau", "transactions", "unique_banks",
                           "statement_uploads", "is_complete"],
    "data_quality.csv": ["table", "check", "rows"],
    "cohort_retention_unbounded.csv": ["cohort_week", "cohort_size", "week_offset", "retained_users",
                                       "retention_rate", "is_complete"],
    "cohort_retention_monthly.csv": ["cohort_month", "cohort_size", "month_offset", "retained_users",
                                     "retention_rate", "is_complete"],
    "retention_curve.csv": ["week_offset", "cohorts", "cohort_users", "retained_users", "retention_rate"],
    "lifecycle_weekly.csv": ["week", "active_users", "new_users", "returning_users", "resurrecting_users",
                             "dormant_users", "is_complete"],
    "active_users_daily.csv": ["date", "dau", "wau", "mau_30d", "is_complete"],
    "stickiness_monthly.csv": ["month", "days_active", "users", "users_at_least", "is_complete"],
}
NEW_FILES = ["cohort_retention_unbounded.csv", "cohort_retention_monthly.csv", "retention_curve.csv",
             "lifecycle_weekly.csv", "active_users_daily.csv", "stickiness_monthly.csv"]

US_DAY = 86_400_000_000
US_WEEK = 7 * US_DAY
MONDAY0 = 4 * US_DAY          # 1970-01-05 00:00 UTC was a Monday
SHIFT_W = 1_000_000           # keeps the floor division below non-negative (years > -17000)
BITMAP_MAX_BITS = 1 << 31     # 256 MiB per thread state at most

# first / last set bit of a 7-bit day-of-week mask (bit i = Monday + i days), as SQL on `m`
def mask_lo(m):
    return f"bit_count((CAST({m} AS INTEGER) & -CAST({m} AS INTEGER)) - 1)"


def mask_hi(m):
    return "CASE " + " ".join(f"WHEN {m} >= {1 << i} THEN {i}" for i in range(6, 0, -1)) + " ELSE 0 END"

# GROUPING SETS of the transactions pass; grouping() sets bit (n - 1 - i) when key i is not grouped
TXG_KEYS = ["dq", "m", "tmo", "account", "cmo", "sess", "uid", "swk", "cwk", "cdow", "c"]
TXG_SET_A = ("dq", "m", "tmo", "account")               # dq counts; per-month rows and banks
TXG_SET_B = ("cmo", "sess", "uid", "swk", "cwk", "cdow", "c")  # uploads per month; upload days


def _gid(keys):
    return sum(1 << (len(TXG_KEYS) - 1 - i) for i, k in enumerate(TXG_KEYS) if k not in keys)


G_A, G_B = _gid(TXG_SET_A), _gid(TXG_SET_B)


def week_of(us):
    """ISO week number (Monday 00:00 UTC based) of an epoch-us BIGINT expression (floor)."""
    return f"((({us}) + {SHIFT_W * US_WEEK - MONDAY0}) // {US_WEEK} - {SHIFT_W})"


def dshift_of(us):
    """Days since the Monday SHIFT_W weeks before 1970-01-05 (non-negative, so // 7 and % 7 floor):
    // 7 - SHIFT_W is week_of(us), % 7 the day of the week (Monday 0)."""
    return f"((({us}) + {SHIFT_W * US_WEEK - MONDAY0}) // {US_DAY})"


def month_of_us(us):
    return f"CAST(date_trunc('month', make_timestamp({us})) AS DATE)"


class SnapshotError(Exception):
    pass


# ---------------------------------------------------------------------------- snapshot
def resolve_snapshot(path, allow_incomplete=False):
    path = os.path.abspath(path.rstrip("/"))
    if os.path.basename(path) == "latest" and not os.path.isdir(path):
        store = os.path.dirname(path)
        ids = sorted(d for d in os.listdir(store)
                     if os.path.isfile(os.path.join(store, d, "_SUCCESS")))
        if not ids:
            raise SnapshotError(f"store {store}: no complete snapshot (no _SUCCESS)")
        path = os.path.join(store, ids[-1])
    if not os.path.isdir(path):
        raise SnapshotError(f"snapshot {path}: not a directory")
    if not os.path.isfile(os.path.join(path, "_SUCCESS")) and not allow_incomplete:
        raise SnapshotError(f"snapshot {os.path.basename(path)}: no _SUCCESS (incomplete); "
                            f"use --allow-incomplete")
    return path


def _visible(rel):
    return not any(part.startswith(("_", ".")) for part in rel.split(os.sep))


def table_files(snap, table):
    files = []
    d = os.path.join(snap, table)
    if os.path.isdir(d):
        for f in glob.glob(os.path.join(d, "**", "*.parquet"), recursive=True):
            if os.path.isfile(f) and _visible(os.path.relpath(f, d)):
                files.append(f)
    single = d + ".parquet"
    if os.path.isfile(single):
        files.append(single)
    return sorted(files)


def category_of(t):
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_timestamp(t):
        return "ts"
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "str"
    if pa.types.is_dictionary(t) and category_of(t.value_type) == "str":
        return "str"
    if pa.types.is_boolean(t):
        return "bool"
    return None


def validate(snap_id, table, files):
    """One footer read per file: schema check  + min/max/nulls of `id`.

    Returns ({file: arrow schema}, id_stats) where id_stats is (lo, hi, rows, nulls) over all
    files, or None when a file lacks the statistics (then SQL computes the range)."""
    schemas = {}
    lo = hi = None
    rows = nulls = 0
    stats_ok = any(c == "id" for c, _, _, _ in COLUMNS[table])
    for f in files:
        try:
            md = pq.read_metadata(f)
            schema = md.schema.to_arrow_schema()
        except Exception as e:  # corrupt / truncated / not parquet
            raise SnapshotError(f"snapshot {snap_id}: table {table}: file {f}: unreadable Parquet: {e}")
        for col, cat, required, _ in COLUMNS[table]:
            idx = schema.get_field_index(col)
            if idx < 0:
                if required:
                    raise SnapshotError(f"snapshot {snap_id}: table {table}: file {f}: column {col}: "
                                        f"found missing, expected {EXPECTED[cat]}")
                continue
            found = schema.field(idx).type
            if category_of(found) != cat:
                raise SnapshotError(f"snapshot {snap_id}: table {table}: file {f}: column {col}: "
                                    f"found {found}, expected {EXPECTED[cat]}")
        schemas[f] = schema
        if stats_ok:
            ci = next((i for i in range(md.num_columns) if md.schema.column(i).path == "id"), None)
            if ci is None:
                stats_ok = False
                continue
            for g in range(md.num_row_groups):
                cm = md.row_group(g).column(ci)
                st = cm.statistics
                n = md.row_group(g).num_rows
                rows += n
                if n == 0:
                    continue
                if st is None or st.null_count is None:
                    stats_ok = False
                    break
                nulls += st.null_count
                if st.null_count == n:
                    continue
                if not st.has_min_max or not isinstance(st.min, int) or not isinstance(st.max, int):
                    stats_ok = False
                    break
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
    return schemas, ((lo, hi, rows, nulls) if stats_ok else None)


def _lit(s):
    return "'" + s.replace("'", "''") + "'"


def _norm(col, duck_type, cat):
    q = '"' + col.replace('"', '""') + '"'
    t = duck_type.upper()
    if cat == "ts":  # the canonical cast chain, then epoch microseconds
        if t in ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            return f"epoch_us({q})"
        if t in ("TIMESTAMPTZ_NS", "TIMESTAMP_NS WITH TIME ZONE"):
            return f"epoch_us(CAST({q} AS TIMESTAMPTZ))"
        return f"epoch_us(CAST({q} AS TIMESTAMP))"
    if cat == "int" and t == "BIGINT" or cat == "str" and t == "VARCHAR" \
            or cat == "date" and t == "DATE" or cat == "bool" and t == "BOOLEAN":
        return q
    return f"CAST({q} AS {SQL_TYPE[cat]})"


def register_table(con, table, files, schemas, target):
    """Lazy view `target` over the Parquet files with the normalised columns.

    Files are grouped by the DuckDB types of the needed columns (one DESCRIBE per distinct
    Arrow schema), so files whose schemas differ are each cast correctly; the view is a
    UNION ALL of one read_parquet per group and DuckDB pushes projections into each scan."""
    groups, desc_cache = {}, {}
    for f in files:
        skey = schemas[f].to_string(show_field_metadata=False, show_schema_metadata=False)
        if skey not in desc_cache:
            desc_cache[skey] = dict((r[0], r[1]) for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({_lit(f)}, hive_partitioning=false)").fetchall())
        desc = desc_cache[skey]
        names = set(schemas[f].names)
        key = tuple((c, desc.get(c) if c in names else None) for c, _, _, _ in COLUMNS[table])
        groups.setdefault(key, []).append((f, skey))
    selects = []
    for key, fs in sorted(groups.items(), key=lambda kv: kv[1][0][0]):
        exprs = []
        for (col, cat, _, name), (_, dtype) in zip(COLUMNS[table], key):
            if dtype is None:
                exprs.append(f"CAST(NULL AS {SQL_TYPE[cat]}) AS {name}")
            else:
                exprs.append(f"{_norm(col, dtype, cat)} AS {name}")
        flist = "[" + ", ".join(_lit(f) for f, _ in fs) + "]"
        ubn = "true" if len({s for _, s in fs}) > 1 else "false"
        selects.append(f"SELECT {', '.join(exprs)} FROM read_parquet({flist}, "
                       f"hive_partitioning=false, union_by_name={ubn})")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {target} AS " + " UNION ALL ".join(selects))


def parse_rfc3339(s):
    s = s.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    d = dt.datetime.fromisoformat(s)
    if d.tzinfo is not None:
        d = d.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return d  # naive UTC


def epoch_us_of(d):
    delta = d - dt.datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


# ---------------------------------------------------------------------------- engine
class Options:
    def __init__(self, date_from=None, date_to=None, active_only=False, event_types=None,
                 transactions_source=None, bank=None):
        self.date_from = date_from
        self.date_to = date_to
        self.active_only = active_only
        self.event_types = event_types or ["login", "dashboard_access"]
        self.transactions_source = transactions_source
        self.bank = bank

    def as_dict(self):
        return {"from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "active_only": self.active_only, "event_types": self.event_types,
                "transactions_source": self.transactions_source, "bank": self.bank}


def dup_free(con, view, id_stats, use_bitmap, nulls_group):
    """True when `view`.id provably has no duplicate (bitmap over the id range).

    nulls_group: NULL ids are grouped together for this table (users, onboarding), so
    two NULL ids are a duplicate there; for events/transactions NULL ids never match."""
    if not use_bitmap:
        return False
    if id_stats is None:
        lo, hi, rows, nn = con.execute(f"SELECT min(id), max(id), count(*), count(id) FROM {view}").fetchone()
        nulls = rows - nn
    else:
        lo, hi, rows, nulls = id_stats
    if nulls_group and nulls > 1:
        return False
    if lo is None:  # no non-null id at all
        return True
    if hi - lo + 1 > BITMAP_MAX_BITS:
        return False
    n, bits = con.execute(f"SELECT count(id), bit_count(bitstring_agg(id, {int(lo)}, {int(hi)})) "
                          f"FROM {view}").fetchone()
    return n == bits


def find_dup_ids(con, view, target, use_bitmap):
    """Temp table `target`(id): the non-NULL ids of `view` that occur more than once.

    With bitmaps, chunks of 64 ids whose row count exceeds their distinct count are found first
    (a small grouped bitmap aggregate), so the exact GROUP BY only sees rows of those chunks."""
    if use_bitmap:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {target}_ch AS
                        SELECT id >> 6 AS ch FROM {view} WHERE id IS NOT NULL GROUP BY ch
                        HAVING count(*) > bit_count(bitstring_agg(id & 63, 0, 63))""")
        where = f"WHERE (id >> 6 IN (SELECT ch FROM {target}_ch)) IS TRUE"
    else:
        where = "WHERE id IS NOT NULL"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {target} AS SELECT id FROM {view} {where} "
                f"GROUP BY id HAVING count(*) > 1")


def compute(snap, opts, threads=2, use_bitmap=True, con=None):
    """Run the whole suite. Returns (results, info), as (results, info)."""
    snap_id = os.path.basename(snap)
    own = con is None
    if own:
        con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    files = {t: table_files(snap, t) for t in TABLES}
    present = {t for t in TABLES if files[t]}
    for t in ("users", "user_events", "onboarding_responses"):
        if t not in present:
            raise SnapshotError(f"snapshot {snap_id}: required table {t} is missing")
    has_l1 = "l1_transaction_facts" in present and "l0_user_tokenization" in present
    if "l1_transaction_facts" in present and "l0_user_tokenization" not in present:
        present.discard("l1_transaction_facts")
    src = opts.transactions_source or ("l1" if has_l1 else "legacy")
    if src == "l1" and not has_l1:
        raise SnapshotError(f"snapshot {snap_id}: l1_transaction_facts + l0_user_tokenization missing")
    if src == "legacy" and "transactions" not in present:
        raise SnapshotError(f"snapshot {snap_id}: table transactions (legacy) is missing")
    schemas, id_stats = {}, {}
    for t in sorted(present):
        s, st = validate(snap_id, t, files[t])
        schemas.update(s)
        id_stats[t] = st
    raw = {"users": "users_raw", "user_events": "ev_raw", "transactions": "txl_raw",
           "l1_transaction_facts": "tx1_raw", "l0_user_tokenization": "tok_raw",
           "l0_pii_users": "pii_raw", "onboarding_responses": "onb_raw"}
    for t in sorted(present):
        register_table(con, t, files[t], schemas, raw[t])

    # ------------------------------------------------------------------ as_of 
    as_of, as_of_source = None, None
    mpath = os.path.join(snap, "_manifest.json")
    if os.path.isfile(mpath):
        with open(mpath) as f:
            m = json.load(f)
        if m.get("exported_at"):
            as_of, as_of_source = parse_rfc3339(m["exported_at"]), "manifest.exported_at"
    if as_of is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{6}Z", snap_id):
            as_of = dt.datetime.strptime(snap_id, "%Y-%m-%dT%H%M%SZ")
            as_of_source = "snapshot id"
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", snap_id):
            as_of = dt.datetime.strptime(snap_id, "%Y-%m-%d") + dt.timedelta(days=1, microseconds=-1)
            as_of_source = "snapshot id"
    if as_of is None:
        mx = con.execute("SELECT max(created_us) FROM users_raw").fetchone()[0]
        as_of = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=mx)
        as_of_source = "max(users.created_at)"
    as_of_us = epoch_us_of(as_of)
    P = {"as_of": as_of_us, "as_of_date": as_of.date(), "as_of_wk": (as_of_us - MONDAY0) // US_WEEK,
         "from_d": opts.date_from, "to_d": opts.date_to, "active_only": bool(opts.active_only),
         "types": list(opts.event_types), "bank": opts.bank}

    def q(sql, names=()):
        """Execute with only the named parameters bound (DuckDB rejects unused ones)."""
        return con.execute(sql, {k: P[k] for k in names} if names else None)

    dq = {}

    # ------------------------------------------------------------------ users
    if dup_free(con, "users_raw", id_stats["users"], use_bitmap, nulls_group=True):
        users_src = "users_raw"
        dq[("users", "duplicate_id")] = 0
    else:
        con.execute("""CREATE OR REPLACE TEMP TABLE users_dd AS SELECT * FROM users_raw
                       QUALIFY row_number() OVER (PARTITION BY id ORDER BY created_us, is_active NULLS FIRST) = 1""")
        users_src = "users_dd"
        dq[("users", "duplicate_id")] = con.execute(
            "SELECT (SELECT count(*) FROM users_raw) - (SELECT count(*) FROM users_dd)").fetchone()[0]
    # v: passes --active-only (vanity, mau, tx); c: also --from/--to (cohort files)
    q(f"""CREATE OR REPLACE TEMP TABLE users_d AS
          SELECT id, created_us, swk, v, v AND (CAST($from_d AS DATE) IS NULL OR cdate >= CAST($from_d AS DATE))
                                          AND (CAST($to_d AS DATE) IS NULL OR cdate <= CAST($to_d AS DATE)) AS c,
                 CAST(date_trunc('month', cdate) AS DATE) AS cm
          FROM (SELECT id, created_us, {week_of('created_us')} AS swk,
                       CAST(make_timestamp(created_us) AS DATE) AS cdate,
                       (NOT $active_only OR is_active IS NULL OR is_active) AS v
                FROM {users_src})""", ("from_d", "to_d", "active_only"))

    # ------------------------------------------------------------------ user_events
    # dedupe: bitmap proves uniqueness, else the spec's rule (earliest (ts, user_id, type))
    if dup_free(con, "ev_raw", id_stats["user_events"], use_bitmap, nulls_group=False):
        ev_src = "SELECT user_id, event_type, us FROM ev_raw"
        dq[("user_events", "duplicate_id")] = 0
    else:
        # "(x IN (SELECT ..)) IS TRUE" and "NOT IN" plan as MARK joins that build on the small id
        # set; a plain IN / SEMI JOIN was planned as RIGHT_SEMI, hashing all 10M events. NULL ids
        # never match, as in USING (id) joins.
        find_dup_ids(con, "ev_raw", "ev_dup", use_bitmap)
        con.execute("""CREATE OR REPLACE TEMP TABLE ev_dd AS
                       SELECT user_id, event_type, us, row_number() OVER (
                              PARTITION BY id ORDER BY us, user_id, event_type) AS rn
                       FROM ev_raw WHERE (id IN (SELECT id FROM ev_dup)) IS TRUE""")
        dq[("user_events", "duplicate_id")] = con.execute(
            "SELECT count(*) FROM ev_dd WHERE rn > 1").fetchone()[0]
        ev_src = ("SELECT user_id, event_type, us FROM ev_raw WHERE id IS NULL OR id NOT IN (SELECT id FROM ev_dup) "
                  "UNION ALL SELECT user_id, event_type, us FROM ev_dd WHERE rn = 1")
    # one pass: (user, week) -> rows, rows after as_of, and two 7-bit day masks: the days with an
    # engagement event and the days with a login (both at or before as_of). The masks are the
    # activity per (user, day), packed: every activity metric and MAU are derived from them.
    q(f"""CREATE OR REPLACE TEMP TABLE evw AS
          SELECT user_id, wk, count(*) AS n, count_if(aft) AS n_after,
                 bit_or(CASE WHEN eng AND NOT aft THEN b END) AS emask,
                 bit_or(CASE WHEN event_type = 'login' AND NOT aft THEN b END) AS lmask
          FROM (SELECT user_id, event_type, dd // 7 - {SHIFT_W} AS wk, us > $as_of AS aft,
                       list_contains($types, event_type) AS eng,
                       CAST(1 AS UTINYINT) << CAST(dd % 7 AS UTINYINT) AS b
                FROM (SELECT user_id, event_type, us, {dshift_of('us')} AS dd FROM ({ev_src})))
          GROUP BY user_id, wk""", ("as_of", "types"))
    con.execute("""CREATE OR REPLACE TEMP TABLE evj AS
                   SELECT e.*, u.id IS NOT NULL AS found, u.swk, u.v, u.c
                   FROM evw e LEFT JOIN users_d u ON u.id = e.user_id""")
    o, a, b = con.execute("""
        SELECT coalesce(sum(n) FILTER (WHERE NOT found), 0),
               coalesce(sum(n_after) FILTER (WHERE found), 0),
               coalesce(sum(n - n_after) FILTER (WHERE found AND wk < swk), 0)
        FROM evj""").fetchone()
    dq[("user_events", "orphan_user_id")] = o
    dq[("user_events", "after_as_of")] = a
    dq[("user_events", "before_signup_week")] = b

    # ------------------------------------------------------------------ tokens
    if "l0_user_tokenization" in present:
        con.execute("""CREATE OR REPLACE TEMP TABLE tok_d AS
                       SELECT tok, min(user_id) AS user_id, count(*) - 1 AS extra
                       FROM tok_raw WHERE tok IS NOT NULL GROUP BY tok""")
        d_tok, o_tok = con.execute("""
            SELECT coalesce(sum(extra), 0),
                   count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM users_d u WHERE u.id = t.user_id))
            FROM tok_d t""").fetchone()
        dq[("l0_user_tokenization", "duplicate_token")] = d_tok
        dq[("l0_user_tokenization", "orphan_user_id")] = o_tok

    # ------------------------------------------------------------------ transactions
    tx_used = "l1_transaction_facts" if src == "l1" else "transactions"
    tx_names = {"transactions": ("txl_raw", "txl"), "l1_transaction_facts": ("tx1_raw", "tx1")}
    for table in ("transactions", "l1_transaction_facts"):
        if table not in present:
            continue
        rv, tag = tx_names[table]
        if table == "l1_transaction_facts":
            base = (f"SELECT r.id, m.user_id, r.tdate, r.account, r.created_us, r.sess, "
                    f"m.tok IS NULL AS unmapped FROM {rv} r LEFT JOIN tok_d m ON m.tok = r.tok")
        else:
            base = f"SELECT id, user_id, tdate, account, created_us, sess, FALSE AS unmapped FROM {rv}"
        if dup_free(con, rv, id_stats[table], use_bitmap, nulls_group=False):
            tx_src = base
            dq[(table, "duplicate_id")] = 0
        else:
            find_dup_ids(con, rv, f"{tag}_dup", use_bitmap)
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {tag}_dd AS
                            SELECT *, row_number() OVER (PARTITION BY id ORDER BY created_us, user_id,
                                   tdate, account, sess) AS rn
                            FROM ({base}) b WHERE (b.id IN (SELECT id FROM {tag}_dup)) IS TRUE""")
            dq[(table, "duplicate_id")] = con.execute(
                f"SELECT count(*) FROM {tag}_dd WHERE rn > 1").fetchone()[0]
            tx_src = (f"SELECT * FROM ({base}) b WHERE b.id IS NULL OR b.id NOT IN (SELECT id FROM {tag}_dup) UNION ALL "
                      f"SELECT id, user_id, tdate, account, created_us, sess, unmapped FROM {tag}_dd WHERE rn = 1")
        # dq: 0 clean, 1 unmapped_token, 2 orphan_user_id, 3 after_as_of, 4 before_signup_week
        classified = f"""
            SELECT CASE WHEN t.unmapped THEN 1 WHEN u.id IS NULL THEN 2
                        WHEN t.tdate > $as_of_date THEN 3
                        WHEN t.sess IS NOT NULL AND t.created_us < u.swk * {US_WEEK} + {MONDAY0} THEN 4
                        ELSE 0 END AS dq,
                   t.user_id, t.tdate, t.account, t.created_us, t.sess, u.swk, u.v, u.c
            FROM ({tx_src}) t LEFT JOIN users_d u ON u.id = t.user_id"""
        if table != tx_used:
            counts = dict(q(f"SELECT dq, count(*) FROM ({classified}) GROUP BY dq", ("as_of_date",)).fetchall())
        else:
            # all metric inputs in one pass; keys are NULL where a row does not feed that set
            q(f"""CREATE OR REPLACE TEMP TABLE txg AS
                  SELECT grouping({', '.join(TXG_KEYS)}) AS g, {', '.join(TXG_KEYS)}, count(*) AS n
                  FROM (SELECT dq, m,
                               CASE WHEN m THEN CAST(date_trunc('month', tdate) AS DATE) END AS tmo,
                               CASE WHEN m THEN account END AS account,
                               CASE WHEN up THEN {month_of_us('created_us')} END AS cmo,
                               CASE WHEN up THEN sess END AS sess,
                               CASE WHEN up THEN user_id END AS uid,
                               CASE WHEN up THEN swk END AS swk,
                               CASE WHEN up THEN {week_of('created_us')} END AS cwk,
                               CASE WHEN up THEN {dshift_of('created_us')} % 7 END AS cdow,
                               CASE WHEN up THEN c END AS c
                        FROM (SELECT *, m AND sess IS NOT NULL AS up
                              FROM (SELECT *, coalesce(dq = 0 AND v AND (CAST($bank AS VARCHAR) IS NULL
                                                       OR account = CAST($bank AS VARCHAR)), false) AS m
                                    FROM ({classified}))))
                  GROUP BY GROUPING SETS (({', '.join(TXG_SET_A)}), ({', '.join(TXG_SET_B)}))""",
              ("as_of_date", "bank"))
            counts = dict(con.execute(f"SELECT dq, sum(n) FROM txg WHERE g = {G_A} GROUP BY dq").fetchall())
        names = {1: "unmapped_token", 2: "orphan_user_id", 3: "after_as_of", 4: "before_signup_week"}
        for k, name in names.items():
            if name in DQ_CHECKS[table]:
                dq[(table, name)] = counts.get(k, 0)

    if "l0_pii_users" in present:
        dq[("l0_pii_users", "orphan_user_id")] = con.execute("""
            SELECT count(*) FROM pii_raw p
            WHERE NOT EXISTS (SELECT 1 FROM users_d u WHERE u.id = p.user_id)""").fetchone()[0]

    # ------------------------------------------------------------------ onboarding (small)
    if dup_free(con, "onb_raw", id_stats["onboarding_responses"], use_bitmap, nulls_group=True):
        onb_d = "SELECT *, 1 AS rn FROM onb_raw"
    else:
        onb_d = ("SELECT *, row_number() OVER (PARTITION BY id ORDER BY started_us, user_id, "
                 "last_step, completed_us) AS rn FROM onb_raw")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE onb_c AS
        SELECT d.id, d.user_id, d.started_us, d.total_steps, d.last_step, d.completed_us,
               CASE WHEN d.rn > 1 THEN 1
                    WHEN u.id IS NULL THEN 2
                    WHEN d.last_step IS NULL OR d.total_steps IS NULL
                         OR d.last_step < 0 OR d.last_step > d.total_steps THEN 3
                    ELSE 0 END AS dq,
               u.swk, u.created_us, u.c
        FROM ({onb_d}) d LEFT JOIN users_d u ON u.id = d.user_id""")
    # a second clean row of one user: the earliest (started_at, id) stays
    con.execute("""CREATE OR REPLACE TEMP TABLE onb_dupu AS
                   SELECT user_id FROM onb_c WHERE dq = 0 GROUP BY user_id HAVING count(*) > 1""")
    con.execute("""CREATE OR REPLACE TEMP TABLE onb_ok AS
                   SELECT user_id, total_steps, last_step, completed_us, swk, created_us, c
                   FROM onb_c WHERE dq = 0 AND user_id NOT IN (SELECT user_id FROM onb_dupu)
                   UNION ALL
                   SELECT user_id, total_steps, last_step, completed_us, swk, created_us, c
                   FROM onb_c WHERE dq = 0 AND (user_id IN (SELECT user_id FROM onb_dupu)) IS TRUE
                   QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY started_us, id) = 1""")
    oc = dict(con.execute("SELECT dq, count(*) FROM onb_c GROUP BY dq").fetchall())
    dq[("onboarding_responses", "duplicate_id")] = oc.get(1, 0)
    dq[("onboarding_responses", "orphan_user_id")] = oc.get(2, 0)
    dq[("onboarding_responses", "last_step_out_of_range")] = oc.get(3, 0)
    dq[("onboarding_responses", "duplicate_user_id")] = oc.get(0, 0) - con.execute(
        "SELECT count(*) FROM onb_ok").fetchone()[0]

    # ------------------------------------------------------------------ activity
    # act: (report user, week) -> 7-bit mask of the days with an engagement (events of the set,
    # from the events pass; statement uploads at created_at, from the transactions pass), for
    # users that pass --active-only (v); the signup week and c ride along for the cohort files. It
    # holds the activity per (user, day) of every report user in ~1 row per active user-week.
    # (a FULL JOIN of the two distinct (user, week) sets: cheaper than UNION ALL + GROUP BY)
    q(f"""CREATE OR REPLACE TEMP TABLE act AS
          WITH e AS (SELECT user_id, wk, emask, swk, c FROM evj
                     WHERE found AND v AND wk >= swk AND emask IS NOT NULL),
          t AS (SELECT uid, cwk, bit_or(CAST(1 AS UTINYINT) << CAST(cdow AS UTINYINT)) AS tmask, swk, c
                FROM txg WHERE g = {G_B} AND sess IS NOT NULL AND cwk IS NOT NULL
                GROUP BY uid, cwk, swk, c)
          SELECT coalesce(e.user_id, t.uid) AS user_id, coalesce(e.wk, t.cwk) AS wk,
                 coalesce(e.emask, 0) | coalesce(t.tmask, 0) AS mask, coalesce(e.swk, t.swk) AS swk,
                 coalesce(e.c, t.c) AS c
          FROM e FULL JOIN t ON t.uid = e.user_id AND t.cwk = e.wk""")
    # each week's one or two months: bits of the days in the Monday's month (lo) and the next (hi)
    con.execute("""CREATE OR REPLACE TEMP TABLE wkm AS
                   SELECT wk, CAST(date_trunc('month', mon) AS DATE) AS m_lo,
                          CAST(date_trunc('month', mon + 6) AS DATE) AS m_hi,
                          CAST((1 << lo_days) - 1 AS UTINYINT) AS lo_bits,
                          CAST(127 - ((1 << lo_days) - 1) AS UTINYINT) AS hi_bits
                   FROM (SELECT wk, mon, least(7, day(last_day(mon)) - day(mon) + 1) AS lo_days
                         FROM (SELECT wk, DATE '1970-01-05' + CAST(7 * wk AS INTEGER) AS mon
                               FROM (SELECT wk FROM evw WHERE wk IS NOT NULL UNION SELECT wk FROM act)))""")
    # one window pass over each user's active weeks: the previous active week (lifecycle) and its
    # mask (the previous active day, for wau / mau_30d)
    con.execute("""CREATE OR REPLACE TEMP TABLE actw AS
                   SELECT wk, mask, lag(wk) OVER u AS pwk, lag(mask) OVER u AS pmask
                   FROM act WINDOW u AS (PARTITION BY user_id ORDER BY wk)""")

    results = {}
    # ------------------------------------------------------------------ cohort retention
    # retained(c, k) = rows of act (distinct per user and week already) in week c + k
    results["cohort_retention.csv"] = q(f"""
        WITH ret AS (SELECT swk, wk - swk AS k, count(*) AS retained FROM act WHERE c GROUP BY ALL),
        sizes AS (SELECT swk, count(*) AS cohort_size FROM users_d WHERE c GROUP BY swk),
        grid AS (SELECT swk, cohort_size, unnest(range(0, $as_of_wk - swk + 1)) AS k FROM sizes)
        SELECT DATE '1970-01-05' + CAST(7 * g.swk AS INTEGER), g.cohort_size, g.k,
               CAST(coalesce(r.retained, 0) AS BIGINT),
               (g.swk + g.k + 1) * {US_WEEK} + {MONDAY0} <= $as_of
        FROM grid g LEFT JOIN ret r ON r.swk = g.swk AND r.k = g.k
        ORDER BY g.swk, g.k""", ("as_of_wk", "as_of")).fetchall()

    # ------------------------------------------------------------------ activation
    results["activation.csv"] = con.execute("""
        WITH sizes AS (SELECT swk, count(*) AS cohort_size FROM users_d WHERE c GROUP BY swk),
        a AS (
            SELECT swk, count(*) AS started, count(completed_us) AS completed,
                   median((completed_us - created_us) / 3600000000.0) AS med
            FROM onb_ok WHERE c GROUP BY swk)
        SELECT DATE '1970-01-05' + CAST(7 * s.swk AS INTEGER), s.cohort_size,
               coalesce(a.started, 0), coalesce(a.completed, 0), a.med
        FROM sizes s LEFT JOIN a ON a.swk = s.swk
        ORDER BY s.swk""").fetchall()

    # ------------------------------------------------------------------ onboarding drop-off
    results["onboarding_dropoff.csv"] = con.execute("""
        WITH steps AS (SELECT unnest(range(1, (SELECT max(total_steps) FROM onb_ok) + 1)) AS step),
        cohorts AS (SELECT DISTINCT swk FROM users_d WHERE c),
        agg AS (
            SELECT o.swk, s.step,
                   count(*) FILTER (WHERE o.last_step >= s.step) AS reached,
                   count(*) FILTER (WHERE o.last_step = s.step - 1 AND o.completed_us IS NULL
                                      AND s.step <= o.total_steps) AS dropped
            FROM onb_ok o CROSS JOIN steps s WHERE o.c GROUP BY o.swk, s.step)
        SELECT DATE '1970-01-05' + CAST(7 * c.swk AS INTEGER), s.step,
               coalesce(a.reached, 0), coalesce(a.dropped, 0)
        FROM cohorts c CROSS JOIN steps s
        LEFT JOIN agg a ON a.swk = c.swk AND a.step = s.step
        ORDER BY c.swk, s.step""").fetchall()

    # ------------------------------------------------------------------ vanity monthly
    results["vanity_monthly.csv"] = q(f"""
        WITH uv AS (SELECT {month_of_us('created_us')} AS m FROM users_d WHERE v),
        bounds AS (SELECT min(m) AS first_m, {month_of_us('$as_of')} AS last_m FROM uv),
        months AS (
            SELECT CAST(unnest(generate_series(CAST(first_m AS TIMESTAMP), CAST(last_m AS TIMESTAMP),
                                               INTERVAL 1 MONTH)) AS DATE) AS m
            FROM bounds WHERE first_m IS NOT NULL),
        newu AS (SELECT m, count(*) AS n FROM uv GROUP BY m),
        lw AS (SELECT e.user_id, e.lmask, w.m_lo, w.m_hi, w.lo_bits, w.hi_bits FROM evj e
               JOIN wkm w ON w.wk = e.wk WHERE e.found AND e.v AND e.lmask IS NOT NULL AND e.wk >= e.swk),
        lm AS (SELECT user_id, m_lo AS m FROM lw WHERE lmask & lo_bits <> 0
               UNION
               SELECT user_id, m_hi FROM lw WHERE lmask & hi_bits <> 0),
        mau AS (SELECT m, count(*) AS n FROM lm GROUP BY m),
        tx AS (SELECT tmo AS m, sum(n) AS n, count(account) AS banks FROM txg
               WHERE g = {G_A} AND m AND tmo IS NOT NULL GROUP BY tmo),
        up AS (SELECT cmo AS m, count(DISTINCT sess) AS n FROM txg
               WHERE g = {G_B} AND sess IS NOT NULL AND cmo IS NOT NULL GROUP BY cmo),
        base AS (
            SELECT months.m, sum(coalesce(newu.n, 0)) OVER (ORDER BY months.m) AS total_users,
                   coalesce(newu.n, 0) AS new_users
            FROM months LEFT JOIN newu ON newu.m = months.m)
        SELECT b.m, b.total_users, b.new_users, coalesce(mau.n, 0), coalesce(tx.n, 0),
               coalesce(tx.banks, 0), coalesce(up.n, 0),
               epoch_us(CAST(b.m AS TIMESTAMP) + INTERVAL 1 MONTH) <= $as_of
        FROM base b
        LEFT JOIN mau ON mau.m = b.m LEFT JOIN tx ON tx.m = b.m LEFT JOIN up ON up.m = b.m
        WHERE (CAST($from_d AS DATE) IS NULL OR b.m >= CAST(date_trunc('month', CAST($from_d AS DATE)) AS DATE))
          AND (CAST($to_d AS DATE) IS NULL OR b.m <= CAST(date_trunc('month', CAST($to_d AS DATE)) AS DATE))
        ORDER BY b.m""", ("as_of", "from_d", "to_d")).fetchall()

    # ================================================================== activity files
    # small aggregates of act / actw, assembled in Python (dense rows, --from/--to, running sums)
    day0 = dt.date(1970, 1, 5)  # day index 0; a day index is 7 * wk + day of the week
    as_of_day = (as_of.date() - day0).days
    as_of_wk, as_of_m = P["as_of_wk"], as_of.date().replace(day=1)
    first_us = con.execute("SELECT min(created_us) FROM users_d WHERE v").fetchone()[0]
    first = None if first_us is None else (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=first_us)).date()

    def day_date(i):
        return day0 + dt.timedelta(days=i)

    def next_month(m):
        return (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)

    def month_done(m):
        return epoch_us_of(dt.datetime.combine(next_month(m), dt.time())) <= as_of_us

    def within(start, lo, hi):  # --from/--to select rows: the period's start within [lo, hi]
        return (lo is None or start >= lo) and (hi is None or start <= hi)

    def week_index(d):
        return ((d - day0).days + 7 * SHIFT_W) // 7 - SHIFT_W

    f_d, t_d = opts.date_from, opts.date_to
    f_w, t_w = (week_index(f_d) if f_d else None), (week_index(t_d) if t_d else None)
    f_m, t_m = (f_d.replace(day=1) if f_d else None), (t_d.replace(day=1) if t_d else None)

    # ------------------------------------------------------------------ retention, on or after
    # rows of cohort_retention; users whose last active week inside the grid is at or after k:
    # a histogram of those last weeks, summed from the right
    last = {(swk, k): n for swk, k, n in q("""
        SELECT swk, k, count(*) FROM (
            SELECT any_value(swk) AS swk, max(wk) - any_value(swk) AS k FROM act
            WHERE c AND wk <= $as_of_wk GROUP BY user_id)
        GROUP BY ALL""", ("as_of_wk",)).fetchall()}
    rows, run, prev = [], 0, None
    for c, size, k, r, done in reversed(results["cohort_retention.csv"]):
        if c != prev:
            run, prev = 0, c
        run += last.get((week_index(c), k), 0)
        rows.append((c, size, k, run, done))
    results["cohort_retention_unbounded.csv"] = rows[::-1]

    # ------------------------------------------------------------------ per (user, month) days
    # (user attributes are joined back afterwards: cheaper than carrying them through the GROUP BY)
    con.execute("""CREATE OR REPLACE TEMP TABLE act_month AS
                   WITH j AS (SELECT a.user_id, w.m_lo, w.m_hi, bit_count(a.mask & w.lo_bits) AS dlo,
                                     bit_count(a.mask & w.hi_bits) AS dhi
                              FROM act a JOIN wkm w ON w.wk = a.wk)
                   SELECT user_id, m, sum(days) AS days
                   FROM (SELECT user_id, m_lo AS m, dlo AS days FROM j WHERE dlo > 0
                         UNION ALL
                         SELECT user_id, m_hi, dhi FROM j WHERE dhi > 0)
                   GROUP BY user_id, m""")

    # ------------------------------------------------------------------ monthly cohorts
    sizes = dict(con.execute("SELECT cm, count(*) FROM users_d WHERE c GROUP BY cm").fetchall())
    mret = {(cm, m): n for cm, m, n in con.execute(
        "SELECT u.cm, a.m, count(*) FROM act_month a JOIN users_d u ON u.id = a.user_id WHERE u.c GROUP BY ALL"
    ).fetchall()}
    rows = []
    if sizes:
        cm, last_cm = min(sizes), max(sizes)
        while cm <= last_cm:
            m, k = cm, 0
            while m <= as_of_m:
                rows.append((cm, sizes.get(cm, 0), k, mret.get((cm, m), 0), month_done(m)))
                m, k = next_month(m), k + 1
            cm = next_month(cm)
    results["cohort_retention_monthly.csv"] = rows

    # ------------------------------------------------------------------ retention curve
    curve = {}
    for c, size, k, r, done in results["cohort_retention.csv"]:
        if done and size > 0:
            n, u, rr = curve.get(k, (0, 0, 0))
            curve[k] = (n + 1, u + size, rr + r)
    results["retention_curve.csv"] = [(k,) + curve.get(k, (0, 0, 0))
                                      for k in range(max(curve) + 1 if curve else 0)]

    # ------------------------------------------------------------------ lifecycle weekly
    # active / new / returning / resurrecting from the previous active week; dormant(w) =
    # active(w-1) - returning(w) (users active in w-1 are either active in w or not)
    life = {wk: [a, n, r, z] for wk, a, n, r, z in con.execute("""
        SELECT wk, count(*), count(*) FILTER (WHERE pwk IS NULL), count(*) FILTER (WHERE pwk = wk - 1),
               count(*) FILTER (WHERE pwk < wk - 1)
        FROM actw GROUP BY wk""").fetchall()}
    rows = []
    if first is not None:
        for wk in range(week_index(first), as_of_wk + 1):
            if within(wk, f_w, t_w):
                a, n, r, z = life.get(wk, (0, 0, 0, 0))
                rows.append((day_date(7 * wk), a, n, r, z, life.get(wk - 1, (0,))[0] - r,
                             (wk + 1) * US_WEEK + MONDAY0 <= as_of_us))
    results["lifecycle_weekly.csv"] = rows

    # ------------------------------------------------------------------ active users daily
    # dau: set bits per day. wau / mau_30d: each active user-week adds one interval of days on
    # which the user is in the window and was not already (its first active day d1, or the end
    # of the previous active day's window, to its last active day dl + W - 1): +1 / -1 events.
    dau = {}
    for row in con.execute("SELECT wk, " + ", ".join(f"sum((mask >> {i}) & 1)" for i in range(7))
                           + " FROM act GROUP BY wk").fetchall():
        for i in range(7):
            if row[1 + i]:
                dau[7 * row[0] + i] = int(row[1 + i])
    delta = {}
    for d, dw, dm in con.execute(f"""
            WITH i AS (SELECT 7 * wk + {mask_lo('mask')} AS d1, 7 * wk + {mask_hi('mask')} AS dl,
                              coalesce(7 * pwk + {mask_hi('pmask')}, -{1 << 40}) AS pdl FROM actw)
            SELECT d, sum(dw), sum(dm) FROM (
                SELECT greatest(d1, pdl + 7) AS d, 1 AS dw, 0 AS dm FROM i
                UNION ALL SELECT dl + 7, -1, 0 FROM i
                UNION ALL SELECT greatest(d1, pdl + 30), 0, 1 FROM i
                UNION ALL SELECT dl + 30, 0, -1 FROM i)
            GROUP BY d""").fetchall():
        delta[d] = (int(dw), int(dm))
    rows = []
    if first is not None:
        wau = mau = 0
        lo = min([(first - day0).days] + list(delta))
        for i in range(lo, as_of_day + 1):
            dw, dm = delta.get(i, (0, 0))
            wau, mau = wau + dw, mau + dm
            d = day_date(i)
            if d >= first and within(d, f_d, t_d):
                rows.append((d, dau.get(i, 0), wau, mau,
                             epoch_us_of(dt.datetime.combine(d + dt.timedelta(days=1), dt.time())) <= as_of_us))
    results["active_users_daily.csv"] = rows

    # ------------------------------------------------------------------ stickiness monthly
    hist = {(m, n): u for m, n, u in con.execute(
        "SELECT m, days, count(*) FROM act_month GROUP BY ALL").fetchall()}
    rows = []
    if first is not None:
        m = first.replace(day=1)
        while m <= as_of_m:
            if within(m, f_m, t_m):
                ndays = (next_month(m) - m).days
                done, part, at_least = month_done(m), [], 0
                for n in range(ndays, 0, -1):
                    u = hist.get((m, n), 0)
                    at_least += u
                    part.append((m, n, u, at_least, done))
                rows.extend(part[::-1])
            m = next_month(m)
    results["stickiness_monthly.csv"] = rows

    # ------------------------------------------------------------------ data quality
    rows = []
    for t in sorted(present):
        for check in DQ_CHECKS[t]:
            rows.append((t, check, int(dq.get((t, check), 0) or 0)))
    results["data_quality.csv"] = sorted(rows)

    info = {"snapshot_id": snap_id, "snapshot_dir": snap, "as_of": as_of, "as_of_source": as_of_source,
            "transactions_source": src, "tables": sorted(present),
            "files": {t: files[t] for t in sorted(present)}}
    if own:
        con.close()
    return results, info


# ---------------------------------------------------------------------------- output
def _rate(num, den):
    return f"{num / den:.6f}" if den else ""


def _b(x):
    return "true" if x else "false"


FORMATTERS = {  # the spec's text formats
    "cohort_retention.csv": lambda c, n, k, r, done: [c.isoformat(), n, k, r, _rate(r, n), _b(done)],
    "activation.csv": lambda c, n, s, d, med: [c.isoformat(), n, s, d, _rate(d, n),
                                               "" if med is None else f"{med:.6f}"],
    "onboarding_dropoff.csv": lambda c, s, r, d: [c.isoformat(), s, r, d],
    "vanity_monthly.csv": lambda m, tu, nu, mau, tx, b, up, done: [m.strftime("%Y-%m"), tu, nu, mau, tx, b,
                                                                   up, _b(done)],
    "data_quality.csv": lambda *r: list(r),
    "cohort_retention_unbounded.csv": lambda c, n, k, r, done: [c.isoformat(), n, k, r, _rate(r, n), _b(done)],
    "cohort_retention_monthly.csv": lambda m, n, k, r, done: [m.strftime("%Y-%m"), n, k, r, _rate(r, n),
                                                              _b(done)],
    "retention_curve.csv": lambda k, cohorts, users, r: [k, cohorts, users, r, _rate(r, users)],
    "lifecycle_weekly.csv": lambda w, act, new, ret, res, dorm, done: [w.isoformat(), act, new, ret, res, dorm,
                                                                       _b(done)],
    "active_users_daily.csv": lambda d, dau, wau, mau, done: [d.isoformat(), dau, wau, mau, _b(done)],
    "stickiness_monthly.csv": lambda m, n, u, atl, done: [m.strftime("%Y-%m"), n, u, atl, _b(done)],
}


def format_results(results):
    """rows -> CSV text per file (the files in `results`; peer_polars.py has the first five)."""
    out = {}
    lines = {name: [fmt(*r) for r in results[name]] for name, fmt in FORMATTERS.items() if name in results}
    for name, rows in lines.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(REPORT_COLUMNS[name])
        w.writerows(rows)
        out[name] = buf.getvalue()
    return out


def write_reports(out_dir, texts, manifest):
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".peer-", dir=parent)
    try:
        for name, text in texts.items():
            with open(os.path.join(tmp, name), "w", newline="") as f:
                f.write(text)
        manifest["outputs"] = {n: hashlib.sha256(t.encode()).hexdigest() for n, t in sorted(texts.items())}
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True, default=str)
            f.write("\n")
        if os.path.isdir(out_dir):
            old = out_dir + ".old-peer"
            if os.path.exists(old):
                shutil.rmtree(old)
            os.rename(out_dir, old)
            os.rename(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def parse_date(s):
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {s!r}")


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("snapshot")
    ap.add_argument("--out", required=True)
    ap.add_argument("--from", dest="date_from", type=parse_date)
    ap.add_argument("--to", dest="date_to", type=parse_date)
    ap.add_argument("--active-only", action="store_true")
    ap.add_argument("--event-types", help="comma-separated engagement event types")
    ap.add_argument("--transactions-source", choices=["l1", "legacy"])
    ap.add_argument("--bank")
    ap.add_argument("--allow-incomplete", action="store_true")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--no-bitmap", action="store_true",
                    help="always dedupe ids with the hash GROUP BY (no bitmap uniqueness proof)")
    return ap


def options_from_args(a):
    types = None
    if a.event_types is not None:
        types = [t.strip() for t in a.event_types.split(",") if t.strip()]
        if not types:
            raise SnapshotError("--event-types: empty list")
    return Options(a.date_from, a.date_to, a.active_only, types, a.transactions_source, a.bank)


def main():
    a = build_parser().parse_args()
    t0 = time.perf_counter()
    try:
        opts = options_from_args(a)
        snap = resolve_snapshot(a.snapshot, a.allow_incomplete)
        results, info = compute(snap, opts, a.threads, use_bitmap=not a.no_bitmap)
        texts = format_results(results)
        manifest = {"tool": "duckdb_peer.py (DuckDB %s)" % duckdb.__version__,
                    "snapshot_id": info["snapshot_id"], "as_of": info["as_of"].isoformat() + "Z",
                    "as_of_source": info["as_of_source"], "filters": opts.as_dict(),
                    "transactions_source": info["transactions_source"]}
        write_reports(a.out, texts, manifest)
    except (SnapshotError, duckdb.Error) as e:
        print(f"peer_duckdb.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    elapsed = time.perf_counter() - t0
    dqn = sum(r[2] for r in results["data_quality.csv"])
    print(f"snapshot={info['snapshot_id']} as_of={info['as_of'].isoformat()}Z ({info['as_of_source']}) "
          f"transactions_source={info['transactions_source']}")
    print(f"rows: cohort_retention={len(results['cohort_retention.csv'])} "
          f"activation={len(results['activation.csv'])} "
          f"onboarding_dropoff={len(results['onboarding_dropoff.csv'])} "
          f"vanity_monthly={len(results['vanity_monthly.csv'])} data_quality_excluded={dqn}")
    print("rows: " + " ".join(f"{n[:-4]}={len(results[n])}" for n in NEW_FILES))
    print(f"peer_seconds={elapsed:.3f}")


if __name__ == "__main__":
    main()
