-- onboarding_steps(step): 1 to the greatest total_steps among clean onboarding rows
-- (src/engine/calendar.rs::steps in snapmetrics), materialised once.
SELECT CAST(step AS INTEGER) AS step
FROM range(1, coalesce((SELECT max(total_steps) FROM onboarding_responses_clean), 0) + 1)
    AS s(step)
