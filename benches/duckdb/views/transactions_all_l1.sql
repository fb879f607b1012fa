-- DuckDB copy of queries/views/transactions_all_l1.sql (sha256 7769d0bce3e820df), written by
-- benches/duckdb/mirror.py: edit queries/views/transactions_all_l1.sql and re-run it, not this file.
-- transactions_all from the analytics layer: l1_transaction_facts with its token mapped
-- to users.id through the clean tokenization. An unmapped token keeps user_id NULL.
SELECT
    f.id,
    m.internal_user_id AS user_id,
    f.transaction_date,
    f.description,
    f.merchant,
    f.amount,
    f.cashflow,
    f.account,
    f.category,
    f.label,
    f.created_at,
    f.upload_session_id,
    'l1' AS source,
    f.tokenized_user_id
FROM l1_transaction_facts f
LEFT JOIN l0_user_tokenization_clean m ON m.tokenized_user_id = f.tokenized_user_id
