-- DuckDB copy of queries/views/transactions_all_legacy.sql (sha256 bb78ef3124ef2501), written by
-- benches/duckdb/mirror.py: edit queries/views/transactions_all_legacy.sql and re-run it, not this file.
-- transactions_all from the legacy transactions table.
SELECT
    t.id,
    t.user_id,
    t.date AS transaction_date,
    t.description,
    t.merchant,
    t.amount,
    t.cashflow,
    t.account,
    t.category,
    t.label,
    t.created_at,
    t.upload_session_id,
    'legacy' AS source,
    CAST(NULL AS VARCHAR) AS tokenized_user_id
FROM transactions t
