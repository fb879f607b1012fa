-- Cohort retention.
--
-- A user's cohort is the (local, Monday-start) week they signed up in. For cohort week c
-- and week offset k >= 0, retained_users = users of c with at least one engagement in
-- the week starting c + 7k days (views/cohort_retained.sql, views/engagement_weeks.sql).
-- k runs from 0 to the week containing as_of; every (c, k) pair is listed, zeros
-- included.
-- retention_rate = retained_users / cohort_size (NULL for an empty cohort);
-- is_complete = the week at offset k ended at or before as_of.
SELECT
    c.cohort_week,
    c.cohort_size,
    w.week_index - c.week_index AS week_offset,
    coalesce(r.retained_users, 0) AS retained_users,
    CASE WHEN c.cohort_size > 0
        THEN CAST(coalesce(r.retained_users, 0) AS DOUBLE) / c.cohort_size
    END AS retention_rate,
    w.is_complete
FROM cohort_weeks c
JOIN calendar_weeks w ON w.week_start >= c.cohort_week
LEFT JOIN cohort_retained r ON r.cohort_week = c.cohort_week AND r.week = w.week_start
ORDER BY c.cohort_week, week_offset
