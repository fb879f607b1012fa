-- Per cohort week (cohort_users) and later week: how many of the cohort's users engaged
-- in that week (engagement_weeks.sql). The cells of cohort_retention.sql and
-- retention_curve.sql.
SELECT cu.cohort_week, a.week, count(*) AS retained_users
FROM engagement_weeks a
JOIN cohort_users cu ON cu.id = a.user_id
GROUP BY cu.cohort_week, a.week
