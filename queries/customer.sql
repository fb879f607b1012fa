-- customer: the Customer Data API's record, one row per user, computed on the fly from the
-- clean views, so every data-quality exclusion applies (docs/DATA_QUALITY.md): a user who
-- is excluded (say, created after as_of) has no record, and excluded events, transactions
-- and onboarding rows count for nobody.
--
-- Parameters, bound as values:
--   $user_id   one user's id, or NULL for every user
--   $as_of     the snapshot's as_of
--
-- Columns (the JSON API nests the prefixed ones into onboarding / activity / transactions):
--   id, display_name, created_at   from users
--   cohort_week                    Monday of the signup week, in the session's zone (--tz)
--   is_active                      users.is_active; NULL or a missing column means active
--   onboarding_*                   the user's onboarding_responses row (at most one after
--                                  the duplicate_user_id check); all NULL when never started.
--                                  responses is the JSON text as exported
--   activity_logins_total          'login' events
--   activity_logins_last_30_days   'login' events in the 30 days before as_of: (as_of - 30 days, as_of]
--   activity_last_login_at         the latest 'login' event
--   activity_dashboard_accesses    'dashboard_access' events
--   activity_active_weeks          distinct weeks with engagement (the engagement_weeks view:
--                                  an event of the engagement set, or a statement upload)
--   transactions_count             rows of transactions_all (the l1 or the legacy copy, never both)
--   transactions_first_date/_last_date  earliest / latest transaction_date
--   transactions_banks             the distinct non-NULL accounts, sorted; NULL when none
--                                  (the JSON record gives [])
--   transactions_total_in/_out     sum(amount) of cashflow 'in' / 'out'; 0.00 when none
--   transactions_statement_uploads distinct upload_session_id
--
-- PII. A line ending in `-- [pii]` is kept only when the session includes PII
-- (--include-pii); without it the PII tables and columns are not in the session at all.
-- `-- [pii_users]` lines also need the snapshot to have l0_pii_users, and
-- `-- [no_pii_users]` lines stand in for them (NULLs) when it has not.
-- l0_pii_users has no key checks of its own: when a user has two rows, the first by
-- (last_name, first_name, date_of_birth) is used.
WITH
pii_users AS (                                                                      -- [pii_users]
    SELECT internal_user_id, first_name, last_name, date_of_birth,                  -- [pii_users]
        row_number() OVER (                                                         -- [pii_users]
            PARTITION BY internal_user_id                                           -- [pii_users]
            ORDER BY last_name, first_name, date_of_birth                           -- [pii_users]
        ) AS copy                                                                   -- [pii_users]
    FROM l0_pii_users                                                               -- [pii_users]
    WHERE $user_id IS NULL OR internal_user_id = $user_id                           -- [pii_users]
),                                                                                  -- [pii_users]
events AS (
    SELECT
        user_id,
        count(*) FILTER (WHERE event_type = 'login') AS logins_total,
        count(*) FILTER (
            WHERE event_type = 'login' AND event_timestamp > $as_of - INTERVAL '30 days'
        ) AS logins_last_30_days,
        max(event_timestamp) FILTER (WHERE event_type = 'login') AS last_login_at,
        count(*) FILTER (WHERE event_type = 'dashboard_access') AS dashboard_accesses
    FROM user_events_clean
    WHERE event_type IN ('login', 'dashboard_access')
      AND ($user_id IS NULL OR user_id = $user_id)
    GROUP BY user_id
),
engagement AS (
    SELECT user_id, count(*) AS active_weeks  -- engagement_weeks is distinct (user_id, week)
    FROM engagement_weeks
    WHERE $user_id IS NULL OR user_id = $user_id
    GROUP BY user_id
),
money AS (
    SELECT
        user_id,
        count(*) AS transactions,
        min(transaction_date) AS first_date,
        max(transaction_date) AS last_date,
        array_agg(DISTINCT account ORDER BY account) FILTER (WHERE account IS NOT NULL) AS banks,
        sum(amount) FILTER (WHERE cashflow = 'in') AS total_in,
        sum(amount) FILTER (WHERE cashflow = 'out') AS total_out,
        count(DISTINCT upload_session_id) AS statement_uploads
    FROM transactions_clean
    WHERE $user_id IS NULL OR user_id = $user_id
    GROUP BY user_id
)
SELECT
    u.id,
    u.display_name
    , u.email                                                                       -- [pii]
    , p.first_name                                                                  -- [pii_users]
    , p.last_name                                                                   -- [pii_users]
    , p.date_of_birth                                                               -- [pii_users]
    , arrow_cast(NULL, 'Utf8') AS first_name                                         -- [no_pii_users]
    , arrow_cast(NULL, 'Utf8') AS last_name                                          -- [no_pii_users]
    , CAST(NULL AS DATE) AS date_of_birth                                           -- [no_pii_users]
    , u.created_at,
    u.cohort_week,
    u.is_active IS NOT FALSE AS is_active,
    o.started_at AS onboarding_started_at,
    o.last_step_completed AS onboarding_last_step_completed,
    o.total_steps AS onboarding_total_steps,
    o.completed_at AS onboarding_completed_at,
    o.responses AS onboarding_responses,
    coalesce(e.logins_total, 0) AS activity_logins_total,
    coalesce(e.logins_last_30_days, 0) AS activity_logins_last_30_days,
    e.last_login_at AS activity_last_login_at,
    coalesce(e.dashboard_accesses, 0) AS activity_dashboard_accesses,
    coalesce(g.active_weeks, 0) AS activity_active_weeks,
    coalesce(m.transactions, 0) AS transactions_count,
    m.first_date AS transactions_first_date,
    m.last_date AS transactions_last_date,
    m.banks AS transactions_banks,
    CAST(coalesce(m.total_in, 0) AS DECIMAL(38, 2)) AS transactions_total_in,
    CAST(coalesce(m.total_out, 0) AS DECIMAL(38, 2)) AS transactions_total_out,
    coalesce(m.statement_uploads, 0) AS transactions_statement_uploads
FROM users_clean u
LEFT JOIN pii_users p ON p.internal_user_id = u.id AND p.copy = 1                  -- [pii_users]
LEFT JOIN onboarding_responses_clean o ON o.user_id = u.id
LEFT JOIN events e ON e.user_id = u.id
LEFT JOIN engagement g ON g.user_id = u.id
LEFT JOIN money m ON m.user_id = u.id
WHERE $user_id IS NULL OR u.id = $user_id
ORDER BY u.id
