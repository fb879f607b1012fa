#!/usr/bin/env python3
"""The snapmetrics report, computed by DuckDB over the same Parquet files.

Used by benches/compare.sh as the other engine of the whole-report comparison. It
mirrors `snapmetrics report` with its default settings: UTC, default filters (no
--from/--to, not --active-only, no --bank, engagement events login + dashboard_access),
transactions_all from l1_transaction_facts + l0_user_tokenization when the snapshot has
both (else the legacy table), and every data-quality exclusion of queries/views/*_checked.sql.

The SQL lives next to this file (one file per metric, views under views/): copies of
queries/ translated by mirror.py, so both engines run the same queries. Views are plain
views, except those snapmetrics computes once per session and keeps in memory
(session.json, written from src/engine/catalogue.rs), which are temporary tables here; each metric is one
query, run in report order. The tables snapmetrics builds in Rust (calendar_weeks,
calendar_months, calendar_days, onboarding_steps: views/calendar_*.sql, views/onboarding_steps.sql) are
built once, when the session opens, here too. The CSV files have the report's columns and formatting: dates YYYY-MM-DD,
months YYYY-MM, rates and medians with 6 decimals (rounded half away from zero, like the
Arrow float-to-decimal cast snapmetrics uses), empty for NULL, booleans true/false.

Usage: report.py --store DIR --out DIR [--snapshot ID]   (ID defaults to latest)
"""

import argparse
import csv
import datetime as dt
import decimal
import json
import re
import sys
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
# The report's files, in report order: the catalogue's list (session.json), never a second one.
METRICS = [
    Path(file).stem for file in json.loads((HERE / "session.json").read_text())["metrics"]
]
ENGAGEMENT_EVENT_TYPES = ["login", "dashboard_access"]


def sql(name):
    return (HERE / f"{name}.sql").read_text()


def latest_snapshot(store):
    ids = sorted(p.name for p in store.iterdir() if (p / "_SUCCESS").is_file())
    if not ids:
        sys.exit(f"report.py: no complete snapshot (with _SUCCESS) in {store}")
    return ids[-1]


def source(snapshot_dir, table):
    """read_parquet over a table folder (any depth, Hive partitions) or <table>.parquet."""
    folder = snapshot_dir / table
    single = snapshot_dir / f"{table}.parquet"
    if folder.is_dir():
        pattern = str(folder / "**" / "*.parquet")
    elif single.is_file():
        pattern = str(single)
    else:
        return None
    pattern = pattern.replace("'", "''")
    return f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"


def as_of_of(con, snapshot_dir, snapshot_id):
    """exported_at from _manifest.json; else the id as a time; else max(users.created_at)."""
    manifest = snapshot_dir / "_manifest.json"
    if manifest.is_file():
        exported_at = json.loads(manifest.read_text()).get("exported_at")
        if exported_at:
            return dt.datetime.fromisoformat(exported_at.replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{6}Z", snapshot_id):
        return dt.datetime.strptime(snapshot_id, "%Y-%m-%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", snapshot_id):
        day = dt.date.fromisoformat(snapshot_id)
        return dt.datetime.combine(day, dt.time(23, 59, 59, 999999), dt.timezone.utc)
    return con.execute("SELECT max(created_at) FROM users").fetchone()[0]


def register_sources(con, snapshot_dir):
    present = {}
    for table in ["users", "user_events", "onboarding_responses", "l1_transaction_facts",
                  "l0_user_tokenization", "transactions"]:
        src = source(snapshot_dir, table)
        if src is not None:
            con.execute(f"CREATE VIEW {table}_raw AS SELECT * FROM {src}")
            present[table] = {row[0] for row in con.execute(f"DESCRIBE {table}_raw").fetchall()}
    for required in ["users", "user_events", "onboarding_responses"]:
        if required not in present:
            sys.exit(f"report.py: snapshot {snapshot_dir} has no {required}")

    # Columns added to the model later: an older export lacks them and the default applies.
    defaults = {
        "users": {"is_active": "CAST(NULL AS BOOLEAN)"},
        "transactions": {"upload_session_id": "CAST(NULL AS VARCHAR)"},
        "l1_transaction_facts": {"upload_session_id": "CAST(NULL AS VARCHAR)"},
    }
    for table, columns in present.items():
        extra = [f"{expr} AS {col}" for col, expr in defaults.get(table, {}).items() if col not in columns]
        select = ", ".join(["*"] + extra)
        con.execute(f"CREATE VIEW {table} AS SELECT {select} FROM {table}_raw")

    if "l0_user_tokenization" not in present:
        con.execute("CREATE TABLE l0_user_tokenization (internal_user_id BIGINT, tokenized_user_id VARCHAR)")
    if "l1_transaction_facts" in present and "l0_user_tokenization" in present:
        return "l1"
    if "transactions" in present:
        return "legacy"
    sys.exit(f"report.py: snapshot {snapshot_dir} has no transactions (l1_transaction_facts + l0_user_tokenization, or transactions)")


def register_views(con, transactions_source, inline_summaries=False):
    """The views of Session::register_views (src/engine/session.rs), in its order. What the
    session computes once and keeps in memory (session.json, written from src/engine/catalogue.rs by
    mirror.py) becomes a temporary table here; everything else stays a view."""
    session = json.loads((HERE / "session.json").read_text())
    checked = [v for v in session["views"] if v["kind"] == "checked"]
    materialized = {f"{v['table']}_clean" for v in checked if v["keep_clean"]}
    duplicate_ids = {v["table"]: v["reads"] for v in checked if v["duplicate_ids"]}

    def view(name, body):
        if name in materialized:
            con.execute(f"CREATE TEMP TABLE {name} AS {body}")
        else:
            con.execute(f"CREATE VIEW {name} AS {body}")

    def checked(table, file):
        if table in duplicate_ids:
            con.execute(
                f"CREATE TEMP TABLE {table}_duplicate_ids AS "
                f"SELECT id FROM {duplicate_ids[table]} GROUP BY id HAVING count(*) > 1"
            )
        view(f"{table}_checked", sql(f"views/{file}"))
        view(f"{table}_clean", f"SELECT * EXCLUDE (dq_check) FROM {table}_checked WHERE dq_check IS NULL")

    checked("users", "users_checked")
    checked("l0_user_tokenization", "l0_user_tokenization_checked")
    view("transactions_all", sql(f"views/transactions_all_{transactions_source}"))
    checked("transactions", "transactions_checked")
    checked("user_events", "user_events_checked")
    checked("onboarding_responses", "onboarding_responses_checked")

    # Built once at session start, as snapmetrics builds them (in Rust) when it opens.
    for table in ["calendar_weeks", "calendar_months", "calendar_days", "onboarding_steps"]:
        con.execute(f"CREATE TEMP TABLE {table} AS {sql(f'views/{table}')}")

    # Computed by the first query that reads them in snapmetrics; every report reads
    # them, so here they are computed once up front.
    # --inline-summaries leaves them views, for DuckDB to plan into each metric instead.
    for name in [v["name"] for v in session["views"] if v["kind"] == "on_first_use"]:
        kind = "VIEW" if inline_summaries else "TEMP TABLE"
        con.execute(f"CREATE {kind} {name} AS {sql(f'views/{name}')}")
    for name in [v["name"] for v in session["views"] if v["kind"] == "filter"]:
        view(name, sql(f"views/{name}"))


def fmt(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Arrow's Float64 -> Decimal128(38, 6) cast: (x * 1e6).round(), half away from zero.
        scaled = decimal.Decimal(value * 1e6).to_integral_value(rounding=decimal.ROUND_HALF_UP)
        return str(scaled.scaleb(-6).quantize(decimal.Decimal("0.000001")))
    if isinstance(value, dt.datetime):
        raise TypeError(f"unexpected timestamp in a report column: {value!r}")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_csv(path, columns, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([fmt(v) for v in row])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--snapshot", default="latest")
    parser.add_argument(
        "--inline-summaries",
        action="store_true",
        help="keep user_events_summary / transactions_summary as views, not temp tables",
    )
    args = parser.parse_args()

    snapshot_id = latest_snapshot(args.store) if args.snapshot == "latest" else args.snapshot
    snapshot_dir = args.store / snapshot_id

    con = duckdb.connect()  # default threads (every core) and memory limit
    con.execute("SET TimeZone = 'UTC'")
    # local_time(ts): the wall-clock time of a UTC instant in the report's zone, as a
    # zone-less timestamp. Only UTC here (snapmetrics' default), so it is the same
    # microseconds re-typed; arithmetic, not an ICU time-zone cast.
    con.execute("CREATE MACRO local_time(ts) AS make_timestamp(epoch_us(ts))")
    # local_date / local_week / local_month: the local day, Monday and first of the month.
    con.execute("CREATE MACRO local_date(ts) AS CAST(local_time(ts) AS DATE)")
    con.execute(
        "CREATE MACRO local_week(ts) AS CAST(date_trunc('week', local_time(ts)) AS DATE)"
    )
    con.execute(
        "CREATE MACRO local_month(ts) AS CAST(date_trunc('month', local_time(ts)) AS DATE)"
    )
    transactions_source = register_sources(con, snapshot_dir)

    as_of = as_of_of(con, snapshot_dir, snapshot_id)
    con.execute("SET VARIABLE as_of = CAST(? AS TIMESTAMPTZ)", [as_of])
    # The report's default filters, as snapmetrics binds them.
    con.execute("SET VARIABLE from_date = CAST(NULL AS DATE)")
    con.execute("SET VARIABLE to_date = CAST(NULL AS DATE)")
    con.execute("SET VARIABLE active_only = false")
    con.execute("SET VARIABLE bank = CAST(NULL AS VARCHAR)")
    con.execute("SET VARIABLE event_types = ?", [ENGAGEMENT_EVENT_TYPES])
    con.execute("SET VARIABLE default_event_types = true")
    register_views(con, transactions_source, args.inline_summaries)

    args.out.mkdir(parents=True, exist_ok=True)
    for metric in METRICS:
        cursor = con.execute(sql(metric))
        columns = [d[0] for d in cursor.description]
        write_csv(args.out / f"{metric}.csv", columns, cursor.fetchall())


if __name__ == "__main__":
    main()
