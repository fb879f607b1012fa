-- DuckDB copy of queries/data_quality.sql (sha256 2ffb41d80955d8a4), written by
-- benches/duckdb/mirror.py: edit queries/data_quality.sql and re-run it, not this file.
-- Data-quality counts: per table and check, the rows excluded from every metric.
-- A row counts once, under the first check it fails (see views/*_checked.sql); counts
-- ignore --from/--to/--active-only/--bank. Every check that applies to a table is
-- listed, zeros included.
WITH data_quality_checks AS (
    SELECT table_name, check_name
    FROM (VALUES
        ('users', 'duplicate_id'),
        ('users', 'null_required'),
        ('users', 'before_epoch'),
        ('users', 'after_as_of'),
        ('user_events', 'duplicate_id'),
        ('user_events', 'null_required'),
        ('user_events', 'orphan_user_id'),
        ('user_events', 'after_as_of'),
        ('user_events', 'before_signup_week'),
        ('transactions_all', 'duplicate_id'),
        ('transactions_all', 'null_required'),
        ('transactions_all', 'orphan_user_id'),
        ('transactions_all', 'unmapped_token'),
        ('transactions_all', 'after_as_of'),
        ('transactions_all', 'before_signup_week'),
        ('onboarding_responses', 'duplicate_id'),
        ('onboarding_responses', 'null_required'),
        ('onboarding_responses', 'orphan_user_id'),
        ('onboarding_responses', 'after_as_of'),
        ('onboarding_responses', 'total_steps_out_of_range'),
        ('onboarding_responses', 'last_step_out_of_range'),
        ('onboarding_responses', 'duplicate_user_id'),
        ('l0_user_tokenization', 'null_required'),
        ('l0_user_tokenization', 'orphan_user_id'),
        ('l0_user_tokenization', 'duplicate_token')
    ) checks(table_name, check_name)
),
found AS (
    SELECT 'users' AS table_name, dq_check, 1 AS rows FROM users_checked
    UNION ALL SELECT 'user_events', dq_check, events FROM user_events_summary
    UNION ALL SELECT 'transactions_all', dq_check, transactions FROM transactions_summary
    UNION ALL SELECT 'onboarding_responses', dq_check, 1 FROM onboarding_responses_checked
    UNION ALL SELECT 'l0_user_tokenization', dq_check, 1 FROM l0_user_tokenization_checked
),
counts AS (
    SELECT table_name, dq_check, sum(rows) AS rows
    FROM found
    WHERE dq_check IS NOT NULL
    GROUP BY table_name, dq_check
)
SELECT c.table_name AS "table", c.check_name AS "check", coalesce(n.rows, 0) AS rows
FROM data_quality_checks c
LEFT JOIN counts n ON n.table_name = c.table_name AND n.dq_check = c.check_name
ORDER BY "table", "check"
