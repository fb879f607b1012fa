-- transactions_all from the legacy transactions table.
SELECT
    t.id,
    t.user_id,
    t.date AS transaction_date,
    t.description,
    t.merchant,
    t.amount,
    t.cashflow,
    t.account,
    t.category,
    t.label,
    t.created_at,
    t.upload_session_id,
    'legacy' AS source,
    arrow_cast(NULL, 'Utf8') AS tokenized_user_id
FROM transactions t
