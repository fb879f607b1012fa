-- DuckDB copy of queries/views/transactions_checked.sql (sha256 a9e0eb88e62b0f11), written by
-- benches/duckdb/mirror.py: edit queries/views/transactions_checked.sql and re-run it, not this file.
-- transactions_all, each row tagged with the first check it fails, or NULL.
--   duplicate_id        a second row with the same id; the earliest created_at stays
--   null_required       id, the user key, transaction_date, amount, cashflow or created_at is NULL
--   orphan_user_id      user_id is not a (clean) user
--   unmapped_token      tokenized_user_id has no mapping in l0_user_tokenization
--   after_as_of         transaction_date later than as_of's UTC date
--   before_signup_week  uploaded (created_at) before the user's signup week
-- Only ids that occur more than once are ranked (transactions_duplicate_ids, see
-- user_events_checked.sql).
WITH ranked AS (
    SELECT t.*, 1 AS dq_copy
    FROM transactions_all t
    WHERE NOT EXISTS (SELECT 1 FROM transactions_duplicate_ids d WHERE d.id = t.id)
    UNION ALL
    SELECT
        t.*,
        row_number() OVER (
            PARTITION BY t.id
            ORDER BY t.created_at, t.transaction_date, t.amount, t.user_id, t.tokenized_user_id
        ) AS dq_copy
    FROM transactions_all t
    WHERE t.id IN (SELECT id FROM transactions_duplicate_ids)
)
SELECT
    r.* EXCLUDE (dq_copy),
    -- Built from the date's parts: date_trunc would pass through Timestamp(ns), which
    -- cannot hold a year-1 or year-9999 date.
    make_date(date_part('year', r.transaction_date), date_part('month', r.transaction_date), 1)
        AS transaction_month,
    local_week(r.created_at) AS created_week,
    local_month(r.created_at) AS created_month,
    CASE
        WHEN r.id IS NOT NULL AND r.dq_copy > 1 THEN 'duplicate_id'
        WHEN r.id IS NULL
            OR (r.user_id IS NULL AND r.tokenized_user_id IS NULL)
            OR r.transaction_date IS NULL
            OR r.amount IS NULL
            OR r.cashflow IS NULL
            OR r.created_at IS NULL THEN 'null_required'
        WHEN r.user_id IS NOT NULL AND u.id IS NULL THEN 'orphan_user_id'
        WHEN r.user_id IS NULL THEN 'unmapped_token'
        WHEN r.transaction_date > CAST(getvariable('as_of') AS DATE) THEN 'after_as_of'
        WHEN local_week(r.created_at) < u.cohort_week THEN 'before_signup_week'
    END AS dq_check
FROM ranked r
LEFT JOIN users_clean u ON u.id = r.user_id
