-- The users the cohort metrics count: report_users whose signup date (in the report's
-- zone) is within --from / --to, both inclusive.
SELECT *
FROM report_users
WHERE ($from IS NULL OR signup_date >= $from)
  AND ($to IS NULL OR signup_date <= $to)
