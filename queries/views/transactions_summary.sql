-- transactions_all counted per (user, account, statement upload, month of the
-- transaction, local date, week and month of the upload, data-quality check). Retention,
-- the vanity transaction columns and data_quality.csv read transactions through this,
-- so a report checks the table once (computed on first use, like user_events_summary).
-- dq_check NULL: the clean rows.
SELECT
    user_id,
    account,
    upload_session_id,
    transaction_month,
    local_date(created_at, $tz) AS created_date,
    created_week,
    created_month,
    dq_check,
    count(*) AS transactions
FROM transactions_checked
GROUP BY user_id, account, upload_session_id, transaction_month,
    local_date(created_at, $tz), created_week, created_month, dq_check
