#!/usr/bin/env python3
"""Writes the DuckDB copies of the metric SQL (benches/duckdb/*.sql, views/*.sql) from
queries/, so DuckDB runs the same queries as snapmetrics.

The translation is mechanical and small:
  $as_of, $from, $to, $bank, $active_only  ->  getvariable('as_of'), getvariable('from_date'), ...
                                               (DuckDB views cannot hold prepared parameters)
  local_time(x, $tz), local_week(x, $tz).. ->  local_time(x).. (UTC-only macros, report.py)
  arrow_cast(NULL, 'Utf8')                 ->  CAST(NULL AS VARCHAR)
  VALUES ... column1, column2              ->  named columns (DuckDB calls them col0, col1)
The tables snapmetrics builds in Rust (calendar_weeks, calendar_months, onboarding_steps,
src/engine/calendar.rs) are hand-written SQL in views/ and are not touched here. What the
session computes once instead of inlining is in session.json, which `cargo test` writes
from src/engine/catalogue.rs and report.py follows.

  mirror.py          rewrite the copies that differ from queries/
  mirror.py --check  exit 1 (and name them) when a copy is stale
"""

import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERIES = HERE.parent.parent / "queries"
# Which files to mirror: the catalogue's (benches/duckdb/session.json, which `cargo test`
# keeps equal to src/engine/catalogue.rs), never a second list.
CATALOGUE = json.loads((HERE / "session.json").read_text())
FILES = CATALOGUE["metrics"] + [view["file"] for view in CATALOGUE["views"]]
PARAMETERS = {
    "as_of": "as_of",
    "from": "from_date",
    "to": "to_date",
    "bank": "bank",
    "active_only": "active_only",
    "event_types": "event_types",
    "default_event_types": "default_event_types",
}


def translate(name, text):
    text = re.sub(r",\s*\$tz\s*\)", ")", text)
    text = text.replace("arrow_cast(NULL, 'Utf8')", "CAST(NULL AS VARCHAR)")
    text = re.sub(
        r"\bcolumn1 AS (\w+), column2 AS (\w+)(.*?\n\s*\) (\w+))",
        lambda m: f"{m.group(1)}, {m.group(2)}{m.group(3)}({m.group(1)}, {m.group(2)})",
        text,
        flags=re.S,
    )

    def parameter(m):
        if m.group(1) not in PARAMETERS:
            sys.exit(f"mirror.py: {name}: no DuckDB variable for parameter ${m.group(1)}")
        return f"getvariable('{PARAMETERS[m.group(1)]}')"

    # Parameters in code, not in comments (no string literal here holds "--").
    lines = []
    for line in text.splitlines(keepends=True):
        code, dashes, comment = line.partition("--")
        lines.append(re.sub(r"\$([a-z_]+)", parameter, code) + dashes + comment)
    text = "".join(lines)
    if "arrow_cast" in text or "column1" in text:
        sys.exit(f"mirror.py: {name}: DataFusion-only SQL left after translation")
    return text


def mirrored(name):
    source = (QUERIES / name).read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    header = (
        f"-- DuckDB copy of queries/{name} (sha256 {digest[:16]}), written by\n"
        f"-- benches/duckdb/mirror.py: edit queries/{name} and re-run it, not this file.\n"
    )
    return header + translate(name, source.decode())


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    outputs = [(name, mirrored(name)) for name in FILES]
    for name, text in outputs:
        target = HERE / name
        if not target.is_file() or target.read_text() != text:
            stale.append(name)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    if stale:
        verb = "stale" if check else "rewritten"
        print(f"benches/duckdb: {verb} from queries/: {', '.join(stale)}", file=sys.stderr)
    sys.exit(1 if check and stale else 0)


if __name__ == "__main__":
    main()
