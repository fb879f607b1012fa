-- The users every metric counts: clean users, with --active-only applied
-- (is_active true or NULL; the snapshot's current value, also for past periods).
SELECT *
FROM users_clean
WHERE NOT $active_only OR is_active IS NOT FALSE
