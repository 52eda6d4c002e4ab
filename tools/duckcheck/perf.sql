-- perf.sql: SPEC section 9's gold tables computed by DuckDB from the CSV files in @CSV@, after gold.sql
-- (it reuses gold.sql's valid events, users, days and its own daily metrics and segments), in UTC.
-- Nearest rank: the value at rank ceil(pct·n/100), in integers.

CREATE TEMP TABLE ev_version AS
SELECT row_number() OVER () AS line, trim(app_version) AS app_version
FROM read_csv('@CSV@/user_interactions.csv', header = true, all_varchar = true);

CREATE TEMP TABLE perf_valid AS
SELECT v.day, v.user_id, v.action, v.duration_ms, e.app_version
FROM valid v JOIN ev_version e USING (line) WHERE NOT v.dup;

CREATE TEMP TABLE gold_app_versions AS
WITH a AS (
  SELECT day, app_version, duration_ms,
         row_number() OVER (PARTITION BY day, app_version ORDER BY duration_ms) AS rn,
         count(*) OVER (PARTITION BY day, app_version) AS n
  FROM perf_valid),
p AS (
  SELECT day, app_version, duration_ms,
         row_number() OVER (PARTITION BY day, app_version ORDER BY duration_ms) AS rn,
         count(*) OVER (PARTITION BY day, app_version) AS n
  FROM perf_valid WHERE action = 'page_view'),
ea AS (SELECT day, app_version, count(*) AS events, max(duration_ms) FILTER (WHERE rn = (95 * n + 99) // 100) AS p95_duration_ms
       FROM a GROUP BY ALL),
ep AS (SELECT day, app_version, count(*) AS page_views,
              max(duration_ms) FILTER (WHERE rn = (50 * n + 99) // 100) AS p50,
              max(duration_ms) FILTER (WHERE rn = (95 * n + 99) // 100) AS p95,
              max(duration_ms) FILTER (WHERE rn = (99 * n + 99) // 100) AS p99
       FROM p GROUP BY ALL)
SELECT day, app_version, events, coalesce(page_views, 0) AS page_views, p50, p95, p99, p95_duration_ms
FROM ea LEFT JOIN ep USING (day, app_version);

CREATE TEMP TABLE gold_devices AS
WITH pv AS (
  SELECT strftime(v.day, '%Y-%m') AS month, coalesce(u.device_type, 'unknown') AS device_type, v.duration_ms
  FROM perf_valid v LEFT JOIN users u USING (user_id) WHERE v.action = 'page_view'),
b AS (SELECT month, device_type, duration_ms FROM pv UNION ALL SELECT month, 'all', duration_ms FROM pv),
r AS (SELECT *, row_number() OVER (PARTITION BY month, device_type ORDER BY duration_ms) AS rn,
             count(*) OVER (PARTITION BY month, device_type) AS n FROM b),
g AS (SELECT month, device_type, count(*) AS page_views, avg(duration_ms) AS mean,
             max(duration_ms) FILTER (WHERE rn = (50 * n + 99) // 100) AS p50,
             max(duration_ms) FILTER (WHERE rn = (95 * n + 99) // 100) AS p95
      FROM r GROUP BY ALL),
ssb AS (SELECT d.month, sum(d.page_views * (d.mean - t.mean) ^ 2) AS ssb
        FROM g d JOIN g t ON t.month = d.month AND t.device_type = 'all' WHERE d.device_type <> 'all' GROUP BY d.month),
sst AS (SELECT p.month, sum((p.duration_ms - t.mean) ^ 2) AS sst
        FROM pv p JOIN g t ON t.month = p.month AND t.device_type = 'all' GROUP BY p.month)
SELECT g.month, g.device_type, g.page_views, g.mean AS mean_page_view_ms, g.p50, g.p95,
       CASE WHEN g.device_type = 'all' AND sst > 0 THEN ssb / sst END AS eta_squared
FROM g JOIN ssb USING (month) JOIN sst USING (month);

-- Anomalies: every series on every day of the lake (0 where it has no activity), scored against the
-- same weekday of the 8 weeks before (at least 4 of them inside the days), except on the last day.
CREATE TEMP TABLE perf_series AS
WITH s AS (
  SELECT day, 'dau' AS metric, dimension, value, dau AS v FROM gold_segments
  UNION ALL SELECT day, 'sessions', dimension, value, sessions FROM gold_segments
  UNION ALL SELECT day, 'dau', 'all', 'all', dau FROM gold_daily
  UNION ALL SELECT day, 'sessions', 'all', 'all', sessions FROM gold_daily),
k AS (SELECT DISTINCT metric, dimension, value FROM s)
SELECT d.day, k.metric, k.dimension, k.value, CAST(coalesce(s.v, 0) AS DOUBLE) AS v
FROM days d CROSS JOIN k LEFT JOIN s USING (day, metric, dimension, value);

CREATE TEMP TABLE gold_anomalies AS
WITH ref AS (
  SELECT x.day, x.metric, x.dimension, x.value, x.v AS observed, list(r.v) AS refs
  FROM perf_series x JOIN perf_series r USING (metric, dimension, value)
  WHERE r.day < x.day AND r.day >= x.day - 56 AND date_diff('day', r.day, x.day) % 7 = 0
    AND x.day < (SELECT max(day) FROM days)
  GROUP BY ALL HAVING count(*) >= 4),
m AS (SELECT *, list_median(refs) AS expected FROM ref),
d AS (SELECT *, list_median(list_transform(refs, r -> abs(r - expected))) AS mad,
             list_avg(list_transform(refs, r -> abs(r - expected))) AS mean_dev FROM m),
s AS (SELECT *, greatest(CASE WHEN mad > 0 THEN 1.4826 * mad ELSE 1.2533 * mean_dev END, sqrt(expected)) AS scale FROM d)
SELECT day, metric, dimension, value, CAST(observed AS BIGINT) AS observed, expected, mad,
       (observed - expected) / scale AS z, CASE WHEN observed > expected THEN 'spike' ELSE 'drop' END AS direction
FROM s WHERE expected >= 20 AND abs((observed - expected) / scale) >= 5;
