-- ingest-monitor: ready-to-run audit queries (PostgreSQL, psql or any client).
-- Times are UTC. Each query stands alone; edit the names and values in the WHERE clauses.
-- Views used here (ingest_recent_loads, ingest_failures_24h, ingest_rows_per_target_day,
-- ingest_lineage) are created by the daemon; see sql/postgres/views.sql.

-- name: loaded_today
-- What loaded today?
SELECT load_id, file_name, target_schema, target_table, rows_loaded, rows_rejected, duration_ms, finished_at
FROM ingest_files
WHERE status = 'loaded' AND finished_at >= CAST(now() AT TIME ZONE 'UTC' AS date)
ORDER BY finished_at DESC;

-- name: failed
-- What failed, and why? (the last 24 hours only: SELECT * FROM ingest_failures_24h)
SELECT load_id, file_name, target_schema, target_table, finished_at, current_path, error
FROM ingest_files
WHERE status = 'failed'
ORDER BY load_id DESC;

-- name: row_lineage
-- Where did this row come from? Any loaded table joins on its _load_id.
-- Change the table, the column and the value.
SELECT c.company_number, l.load_id, l.file_name, l.sha256, l.finished_at, l.source_path, l.current_path
FROM ref.companies AS c
JOIN ingest_lineage AS l ON l.load_id = c._load_id
WHERE c.company_number = '07687209';

-- name: rows_per_target_day
-- Rows per target over time, one line per target and day.
SELECT target_schema, target_table, load_day, files_loaded, rows_loaded, rows_rejected
FROM ingest_rows_per_target_day
ORDER BY load_day DESC, target_schema, target_table;

-- name: targets
-- Every target: files and rows loaded in all, and its latest load.
SELECT target_schema, target_table, COUNT(*) AS files_loaded, SUM(rows_loaded) AS rows_loaded,
       MAX(load_id) AS latest_load_id, MAX(finished_at) AS latest_loaded_at
FROM ingest_files
WHERE status = 'loaded'
GROUP BY target_schema, target_table
ORDER BY target_schema, target_table;

-- name: duplicates
-- Files dropped again with content already loaded, and the load they repeat.
SELECT d.load_id, d.file_name, d.started_at, d.target_schema, d.target_table,
       o.load_id AS original_load_id, o.file_name AS original_file_name, o.finished_at AS original_loaded_at
FROM ingest_files AS d
JOIN ingest_files AS o ON o.load_id = d.duplicate_of
WHERE d.status = 'duplicate'
ORDER BY d.load_id DESC;

-- name: slowest
-- The slowest loads, with their throughput.
SELECT load_id, file_name, target_schema, target_table, rows_loaded, duration_ms,
       ROUND(rows_loaded * 1000.0 / NULLIF(duration_ms, 0)) AS rows_per_second
FROM ingest_files
WHERE status = 'loaded'
ORDER BY duration_ms DESC NULLS LAST, load_id DESC
LIMIT 20;

-- name: rejects_of_load
-- The rejected records of one load: here the latest load with rejects (or put a load id).
SELECT r.load_id, r.line_number, r.column_name, r.reason, r.raw
FROM ingest_rejects AS r
WHERE r.load_id = (SELECT MAX(load_id) FROM ingest_files WHERE rows_rejected > 0)
ORDER BY r.line_number;

-- name: in_flight
-- Files being loaded now, and who holds them.
SELECT load_id, file_name, status, claimed_by, lease_expires, attempts, started_at
FROM ingest_files
WHERE status IN ('claimed', 'loading')
ORDER BY load_id;

-- name: file_history
-- Every state change of a file, by name (change the name).
SELECT f.load_id, f.file_name, e.at, e.status, e.instance, e.detail
FROM ingest_files AS f
JOIN ingest_events AS e ON e.load_id = f.load_id
WHERE f.file_name = 'contacts.csv'
ORDER BY e.event_id;
