-- Reconciliation of the analytics layer against the legacy table, per month of the
-- transaction date: the months whose row count or amount sum differ. Only run when a
-- snapshot has both l1_transaction_facts and transactions. Raw tables, no exclusions.
WITH l1 AS (
    SELECT CAST(date_trunc('month', transaction_date) AS DATE) AS month_start,
           count(*) AS rows, sum(amount) AS amount
    FROM l1_transaction_facts
    GROUP BY 1
),
legacy AS (
    SELECT CAST(date_trunc('month', date) AS DATE) AS month_start,
           count(*) AS rows, sum(amount) AS amount
    FROM transactions
    GROUP BY 1
)
SELECT
    to_char(coalesce(l1.month_start, legacy.month_start), '%Y-%m') AS month,
    coalesce(legacy.rows, 0) AS legacy_rows,
    coalesce(l1.rows, 0) AS l1_rows,
    legacy.amount AS legacy_amount,
    l1.amount AS l1_amount
FROM l1
FULL OUTER JOIN legacy ON l1.month_start = legacy.month_start
WHERE (l1.rows IS DISTINCT FROM legacy.rows)
   OR (l1.amount IS DISTINCT FROM legacy.amount)
ORDER BY month
