-- DuckDB copy of queries/views/l0_user_tokenization_checked.sql (sha256 5ad338acd2cc8fc1), written by
-- benches/duckdb/mirror.py: edit queries/views/l0_user_tokenization_checked.sql and re-run it, not this file.
-- l0_user_tokenization, each mapping tagged with the first check it fails, or NULL.
--   null_required    internal_user_id or tokenized_user_id is NULL
--   orphan_user_id   internal_user_id is not a (clean) user
--   duplicate_token  the token is mapped more than once; the smallest user id stays
WITH tagged AS (
    SELECT
        m.*,
        CASE
            WHEN m.internal_user_id IS NULL OR m.tokenized_user_id IS NULL THEN 'null_required'
            WHEN u.id IS NULL THEN 'orphan_user_id'
        END AS dq_first
    FROM l0_user_tokenization m
    LEFT JOIN users_clean u ON u.id = m.internal_user_id
)
SELECT
    tagged.* EXCLUDE (dq_first),
    CASE
        WHEN dq_first IS NOT NULL THEN dq_first
        WHEN row_number() OVER (
            PARTITION BY tokenized_user_id
            ORDER BY dq_first NULLS FIRST, internal_user_id
        ) > 1 THEN 'duplicate_token'
    END AS dq_check
FROM tagged
