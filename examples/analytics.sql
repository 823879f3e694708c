-- examples/analytics.sql: four reports on a FastBill account synced into DuckDB.
--
-- They run as they are on the DuckDB file that `make demo` (.demo/fastbill.duckdb) or
-- examples/pyairbyte_duckdb.py writes: the tables are named after the streams, and the column
-- names are lower case because PyAirbyte lower-cases them (INVOICE_ID is the column invoice_id).
-- For another destination, adjust the table names and, if need be, the case of the columns.
--
-- Each query starts at a line "-- name: <query_name>" (scripts/demo.py splits the file there),
-- followed by a one-line summary. What they have in common:
-- * Amounts in different currencies are never added up: every amount is per currency.
-- * Drafts (type 'draft') and cancelled invoices (is_canceled true) are not revenue.
-- * Credit notes (type 'credit') count negative. The sandbox sends their amounts negative;
--   FastBill's API documentation does not say, so -abs() makes them negative whichever sign an
--   account sends (a credit note's rare line of the opposite sign is counted negative too).
-- * The child rows (invoice_items, invoice_payments, invoice_vat_items) are joined to their
--   invoice on invoice_id AND lastupdate. After a full refresh that changes nothing. In an
--   incremental append+dedup destination it drops the rows of items or payments that were
--   removed from an invoice since they were synced: those keep the invoice's older lastupdate
--   (docs/fastbill.md, "Data model"). The invoice's current type, cancellation and currency
--   come with the join.


-- name: revenue_per_product
-- Net revenue per product: invoice items before VAT, credit notes negative
WITH products_by_number AS (
    -- Items name their product by article_number. Should two products share a number, the title
    -- of the one edited last wins, so that no item is counted twice.
    SELECT article_number, arg_max(title, lastupdate) AS title
    FROM products
    WHERE article_number IS NOT NULL
    GROUP BY article_number
)
SELECT it.article_number,
       CASE WHEN it.article_number IS NULL THEN '(no article number)' ELSE p.title END AS title,
       i.currency_code AS currency,
       count(*) AS items,
       sum(CASE WHEN i.type = 'credit' THEN -abs(it.complete_net) ELSE it.complete_net END)
           AS net_revenue
FROM invoice_items AS it
JOIN invoices AS i
  ON i.invoice_id = it.invoice_id AND i.lastupdate IS NOT DISTINCT FROM it.lastupdate
LEFT JOIN products_by_number AS p ON p.article_number = it.article_number
WHERE i.type IN ('outgoing', 'credit')
  AND NOT coalesce(i.is_canceled, FALSE)
GROUP BY ALL
ORDER BY net_revenue DESC, it.article_number NULLS LAST, currency;


-- name: receivables_per_customer
-- Open and overdue receivables per customer: invoice totals minus their payments
WITH as_of AS (
    -- "Overdue" means due before this date. It is the data's own date, the day of the latest
    -- change to any invoice, not current_date: the open amounts are a snapshot as of the last
    -- sync, and the due dates are measured at the same moment. It also makes the answer the same
    -- every day for the sandbox, whose invoices end in October 2026. To measure against today
    -- instead, write: SELECT current_date AS day
    SELECT max(lastupdate)::DATE AS day FROM invoices
),
paid AS (
    SELECT pm.invoice_id, sum(pm.amount) AS paid
    FROM invoice_payments AS pm
    JOIN invoices AS i
      ON i.invoice_id = pm.invoice_id AND i.lastupdate IS NOT DISTINCT FROM pm.lastupdate
    GROUP BY pm.invoice_id
),
open_items AS (
    -- Credit notes are documents of their own in FastBill and are not netted here.
    SELECT i.customer_id, i.currency_code, i.due_date, i.total - coalesce(paid.paid, 0) AS open
    FROM invoices AS i
    LEFT JOIN paid ON paid.invoice_id = i.invoice_id
    WHERE i.type = 'outgoing'
      AND NOT coalesce(i.is_canceled, FALSE)
)
SELECT o.customer_id,
       c.customer_number,
       coalesce(c.organization, concat_ws(' ', c.first_name, c.last_name)) AS customer,
       o.currency_code AS currency,
       count(*) FILTER (WHERE o.open > 0) AS open_invoices,
       sum(o.open) AS open_amount,
       coalesce(sum(o.open) FILTER (WHERE o.due_date < as_of.day), 0) AS overdue_amount,
       as_of.day AS overdue_as_of
FROM open_items AS o
CROSS JOIN as_of
LEFT JOIN customers AS c ON c.customer_id = o.customer_id
GROUP BY ALL
HAVING sum(o.open) > 0
ORDER BY open_amount DESC, o.customer_id, currency;


-- name: vat_per_rate_per_quarter
-- VAT per rate and quarter of the invoice date, credit notes negative
SELECT strftime(i.invoice_date, '%Y') || '-Q' || quarter(i.invoice_date) AS quarter,
       i.currency_code AS currency,
       v.vat_percent,
       count(*) AS invoices,
       sum(CASE WHEN i.type = 'credit' THEN -abs(v.complete_net) ELSE v.complete_net END) AS net,
       sum(CASE WHEN i.type = 'credit' THEN -abs(v.vat_value) ELSE v.vat_value END) AS vat
FROM invoice_vat_items AS v
JOIN invoices AS i
  ON i.invoice_id = v.invoice_id AND i.lastupdate IS NOT DISTINCT FROM v.lastupdate
WHERE i.type IN ('outgoing', 'credit')
  AND NOT coalesce(i.is_canceled, FALSE)
GROUP BY ALL
ORDER BY quarter DESC, currency, v.vat_percent DESC;


-- name: billable_hours_per_project
-- Hours and billable hours per project, with the project's number of tasks
WITH hours AS (
    SELECT project_id,
           count(*) AS entries,
           coalesce(sum(minutes), 0) AS minutes,
           coalesce(sum(billable_minutes), 0) AS billable_minutes
    FROM time_entries
    GROUP BY project_id
),
tasks AS (
    SELECT project_id, count(*) AS tasks FROM project_tasks GROUP BY project_id
)
-- A full join: projects without time entries, and time on a project that is not (or no longer)
-- in projects, both show.
SELECT project_id,
       p.project_name,
       coalesce(t.tasks, 0) AS tasks,
       coalesce(h.entries, 0) AS entries,
       round(coalesce(h.minutes, 0) / 60, 2) AS hours,
       round(coalesce(h.billable_minutes, 0) / 60, 2) AS billable_hours
FROM hours AS h
FULL JOIN projects AS p USING (project_id)
LEFT JOIN tasks AS t USING (project_id)
ORDER BY billable_hours DESC, hours DESC, project_id NULLS LAST;
