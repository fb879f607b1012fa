-- DuckDB copy of queries/vanity_monthly.sql (sha256 1dea740d17a5dd40), written by
-- benches/duckdb/mirror.py: edit queries/vanity_monthly.sql and re-run it, not this file.
-- Vanity metrics per calendar month (local), from the month of the first signup to the
-- month containing as_of, every month listed; --from / --to select months.
--
-- total_users        users signed up before the end of the month
-- new_users          users signed up in the month
-- mau                distinct users with a 'login' event in the month
-- transactions       transactions_all rows whose transaction_date is in the month
-- unique_banks       distinct non-NULL account among those
-- statement_uploads  distinct upload_session_id whose created_at is in the month
-- --bank restricts the three transaction columns to one account.
-- is_complete        the month ended at or before as_of
WITH new_users AS (
    SELECT signup_month AS month_start, count(*) AS users
    FROM report_users
    GROUP BY signup_month
),
logins AS (
    SELECT e.event_month AS month_start, count(DISTINCT e.user_id) AS users
    FROM user_events_summary e
    JOIN report_users u ON u.id = e.user_id
    WHERE e.dq_check IS NULL AND e.logins > 0
    GROUP BY e.event_month
),
bank_transactions AS (
    SELECT t.*
    FROM transactions_summary t
    JOIN report_users u ON u.id = t.user_id
    WHERE t.dq_check IS NULL AND (getvariable('bank') IS NULL OR t.account = getvariable('bank'))
),
transactions_per_month AS (
    SELECT
        transaction_month AS month_start,
        sum(transactions) AS rows,
        count(DISTINCT account) AS banks
    FROM bank_transactions
    GROUP BY transaction_month
),
uploads AS (
    SELECT created_month AS month_start, count(DISTINCT upload_session_id) AS sessions
    FROM bank_transactions
    WHERE upload_session_id IS NOT NULL
    GROUP BY created_month
),
months AS (
    SELECT
        m.month_start,
        m.month,
        m.is_complete,
        sum(coalesce(n.users, 0)) OVER (ORDER BY m.month_start) AS total_users,
        coalesce(n.users, 0) AS new_users
    FROM calendar_months m
    LEFT JOIN new_users n ON n.month_start = m.month_start
)
SELECT
    m.month,
    m.total_users,
    m.new_users,
    coalesce(l.users, 0) AS mau,
    coalesce(t.rows, 0) AS transactions,
    coalesce(t.banks, 0) AS unique_banks,
    coalesce(u.sessions, 0) AS statement_uploads,
    m.is_complete
FROM months m
LEFT JOIN logins l ON l.month_start = m.month_start
LEFT JOIN transactions_per_month t ON t.month_start = m.month_start
LEFT JOIN uploads u ON u.month_start = m.month_start
WHERE (getvariable('from_date') IS NULL OR m.month_start + INTERVAL '1 month' > getvariable('from_date'))
  AND (getvariable('to_date') IS NULL OR m.month_start <= getvariable('to_date'))
ORDER BY m.month
