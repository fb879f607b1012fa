-- user_events, each row tagged with the first check it fails, or NULL.
--   duplicate_id        a second row with the same id; the earliest event_timestamp stays
--   null_required       id, user_id, event_type or event_timestamp is NULL
--   orphan_user_id      user_id is not a (clean) user
--   after_as_of         event_timestamp later than as_of
--   before_signup_week  the event's week is before the user's signup week
-- Only ids that occur more than once are ranked: user_events_duplicate_ids (computed
-- once per session: SELECT id FROM user_events GROUP BY id HAVING count(*) > 1, found by
-- src/engine/duplicates.rs in one or two scans of the id column) is far cheaper than sorting
-- every event by id.
WITH ranked AS (
    SELECT e.*, 1 AS dq_copy
    FROM user_events e
    WHERE NOT EXISTS (SELECT 1 FROM user_events_duplicate_ids d WHERE d.id = e.id)
    UNION ALL
    SELECT
        e.*,
        row_number() OVER (
            PARTITION BY e.id
            ORDER BY e.event_timestamp, e.user_id, e.event_type, e.metadata
        ) AS dq_copy
    FROM user_events e
    WHERE e.id IN (SELECT id FROM user_events_duplicate_ids)
)
SELECT
    r.* EXCLUDE (dq_copy),
    local_week(r.event_timestamp, $tz) AS event_week,
    local_month(r.event_timestamp, $tz) AS event_month,
    CASE
        WHEN r.id IS NOT NULL AND r.dq_copy > 1 THEN 'duplicate_id'
        WHEN r.id IS NULL OR r.user_id IS NULL OR r.event_type IS NULL OR r.event_timestamp IS NULL
            THEN 'null_required'
        WHEN u.id IS NULL THEN 'orphan_user_id'
        WHEN r.event_timestamp > $as_of THEN 'after_as_of'
        WHEN local_week(r.event_timestamp, $tz) < u.cohort_week
            THEN 'before_signup_week'
    END AS dq_check
FROM ranked r
LEFT JOIN users_clean u ON u.id = r.user_id
