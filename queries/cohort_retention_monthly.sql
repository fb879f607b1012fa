-- Monthly cohort retention.
--
-- A user's cohort month is the (local) calendar month they signed up in. Every month from
-- the first to the last cohort month is listed (an empty one with cohort_size 0), and for
-- each, month offset k from 0 to the month containing as_of.
-- retained_users = users of cohort month c active (views/engagement_days.sql) in month
-- c + k; retention_rate = retained_users / cohort_size (NULL for an empty cohort);
-- is_complete = month c + k ended at or before as_of. --from / --to select users by signup
-- date, as for the weekly cohorts.
WITH sizes AS (
    SELECT signup_month AS cohort_month, count(*) AS cohort_size
    FROM cohort_users
    GROUP BY signup_month
),
cohorts AS (
    SELECT m.month_start, m.month, m.month_index, coalesce(s.cohort_size, 0) AS cohort_size
    FROM calendar_months m
    LEFT JOIN sizes s ON s.cohort_month = m.month_start
    WHERE m.month_start >= (SELECT min(cohort_month) FROM sizes)
      AND m.month_start <= (SELECT max(cohort_month) FROM sizes)
),
active_months AS (
    SELECT DISTINCT a.user_id, d.month_start
    FROM engagement_days a
    JOIN calendar_days d ON d.day = a.day
),
retained AS (
    SELECT cu.signup_month AS cohort_month, a.month_start, count(*) AS retained_users
    FROM active_months a
    JOIN cohort_users cu ON cu.id = a.user_id
    GROUP BY cu.signup_month, a.month_start
)
SELECT
    c.month AS cohort_month,
    c.cohort_size,
    m.month_index - c.month_index AS month_offset,
    coalesce(r.retained_users, 0) AS retained_users,
    CASE WHEN c.cohort_size > 0
        THEN CAST(coalesce(r.retained_users, 0) AS DOUBLE) / c.cohort_size
    END AS retention_rate,
    m.is_complete
FROM cohorts c
JOIN calendar_months m ON m.month_start >= c.month_start
LEFT JOIN retained r ON r.cohort_month = c.month_start AND r.month_start = m.month_start
ORDER BY c.month, month_offset
