-- gold.sql: the contract's gold tables computed by DuckDB straight from the CSV files in @CSV@
-- (readable rows only: run it on `datagen --clean` output, where every row is readable), in UTC.
SET TimeZone = 'UTC';
SET preserve_insertion_order = true;

CREATE TEMP TABLE users AS
SELECT user_id, country, device_type, subscription_type FROM (
  SELECT trim(user_id) AS user_id, country, device_type, subscription_type, row_number() OVER () AS line
  FROM read_csv('@CSV@/user_metadata.csv', header = true, all_varchar = true))
QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY line DESC) = 1;

CREATE TEMP TABLE ev AS
SELECT row_number() OVER () AS line, trim(user_id) AS user_id, CAST(CAST(timestamp AS TIMESTAMPTZ) AS TIMESTAMP) AS t,
       lower(trim(action_type)) AS action, trim(page_id) AS page_id, CAST(duration_ms AS BIGINT) AS duration_ms
FROM read_csv('@CSV@/user_interactions.csv', header = true, all_varchar = true);

CREATE TEMP TABLE checked AS
SELECT *, CAST(t AS DATE) AS day, epoch_ms(t) AS ms,
  CASE WHEN action NOT IN ('page_view', 'edit', 'create', 'delete', 'share') THEN 'unknown_action'
       WHEN duration_ms < 0 OR duration_ms > 7200000 THEN 'duration_out_of_range' END AS reason
FROM ev;

CREATE TEMP TABLE valid AS
SELECT *, row_number() OVER (PARTITION BY user_id, ms, action, page_id ORDER BY line) > 1 AS dup
FROM checked WHERE reason IS NULL;

CREATE TEMP TABLE sessions AS
WITH o AS (
  SELECT user_id, ms, day, line, duration_ms,
         lag(ms) OVER w AS prev_ms, lag(day) OVER w AS prev_day
  FROM valid WHERE NOT dup
  WINDOW w AS (PARTITION BY user_id ORDER BY ms, line)),
n AS (
  SELECT *, sum(CASE WHEN prev_ms IS NULL OR ms - prev_ms >= 1800000 OR day <> prev_day THEN 1 ELSE 0 END)
         OVER (PARTITION BY user_id ORDER BY ms, line ROWS UNBOUNDED PRECEDING) AS sn
  FROM o)
SELECT user_id, min(day) AS day, min(ms) AS start_ms, max(ms) AS end_ms, count(*) AS actions,
       sum(duration_ms) AS engaged_ms
FROM n GROUP BY user_id, sn;

CREATE TEMP TABLE active AS SELECT DISTINCT day, user_id FROM valid WHERE NOT dup;

CREATE TEMP TABLE days AS
SELECT CAST(d AS DATE) AS day
FROM range((SELECT min(day) FROM active), (SELECT max(day) FROM active) + INTERVAL 1 DAY, INTERVAL 1 DAY) r(d);

-- Nearest-rank quantiles: the value at rank ceil(p·n).
CREATE TEMP TABLE session_stats AS
WITH r AS (
  SELECT day, CAST(end_ms - start_ms AS DOUBLE) / 1000 AS dur_s, actions, end_ms - start_ms AS dur_ms,
         row_number() OVER (PARTITION BY day ORDER BY end_ms - start_ms) AS rn, count(*) OVER (PARTITION BY day) AS n
  FROM sessions)
SELECT day, count(*) AS sessions, sum(dur_ms) AS dur_ms, sum(actions) AS actions,
       max(CASE WHEN rn = ceil(0.5 * n) THEN dur_s END) AS p50, max(CASE WHEN rn = ceil(0.95 * n) THEN dur_s END) AS p95
FROM r GROUP BY day;

CREATE TEMP TABLE gold_daily AS
WITH w AS (
  SELECT d.day,
         count(DISTINCT a.user_id) FILTER (WHERE a.day > d.day - 7) AS wau,
         count(DISTINCT a.user_id) AS mau,
         count(DISTINCT a.user_id) FILTER (WHERE a.day = d.day) AS dau
  FROM days d JOIN active a ON a.day BETWEEN d.day - 29 AND d.day
  GROUP BY d.day)
SELECT d.day, coalesce(w.dau, 0) AS dau, coalesce(w.wau, 0) AS wau, coalesce(w.mau, 0) AS mau,
       CASE WHEN coalesce(w.mau, 0) = 0 THEN 0 ELSE w.dau / w.mau END AS stickiness,
       coalesce(s.sessions, 0) AS sessions,
       coalesce(CAST(s.dur_ms AS DOUBLE) / 1000 / s.sessions, 0) AS avg_session_duration_s,
       coalesce(CAST(s.actions AS DOUBLE) / s.sessions, 0) AS avg_actions_per_session,
       coalesce(s.p50, 0) AS p50_session_duration_s, coalesce(s.p95, 0) AS p95_session_duration_s,
       CASE WHEN coalesce(w.dau, 0) = 0 THEN 0 ELSE coalesce(s.sessions, 0) / w.dau END AS sessions_per_user
FROM days d LEFT JOIN w USING (day) LEFT JOIN session_stats s USING (day);

CREATE TEMP TABLE seg_users AS
SELECT a.day, a.user_id, coalesce(u.country, 'unknown') AS country, coalesce(u.device_type, 'unknown') AS device_type,
       coalesce(u.subscription_type, 'unknown') AS subscription_type
FROM active a LEFT JOIN users u USING (user_id);

CREATE TEMP TABLE gold_segments AS
WITH su AS (
  UNPIVOT seg_users ON country, device_type, subscription_type INTO NAME dimension VALUE value),
ss AS (
  UNPIVOT (SELECT s.day, s.end_ms - s.start_ms AS dur_ms, s.actions, coalesce(u.country, 'unknown') AS country,
                  coalesce(u.device_type, 'unknown') AS device_type, coalesce(u.subscription_type, 'unknown') AS subscription_type
           FROM sessions s LEFT JOIN users u USING (user_id))
  ON country, device_type, subscription_type INTO NAME dimension VALUE value),
d AS (SELECT day, dimension, value, count(*) AS dau FROM su GROUP BY ALL),
s AS (SELECT day, dimension, value, count(*) AS sessions, sum(dur_ms) AS dur_ms, sum(actions) AS actions FROM ss GROUP BY ALL)
SELECT day, dimension, value, dau, coalesce(sessions, 0) AS sessions,
       coalesce(CAST(dur_ms AS DOUBLE) / 1000 / sessions, 0) AS avg_session_duration_s,
       coalesce(CAST(actions AS DOUBLE) / sessions, 0) AS avg_actions_per_session
FROM d LEFT JOIN s USING (day, dimension, value);

CREATE TEMP TABLE gold_monthly AS
WITH m AS (SELECT strftime(day, '%Y-%m') AS month, count(DISTINCT user_id) AS mau FROM active GROUP BY 1),
s AS (SELECT strftime(day, '%Y-%m') AS month, count(*) AS sessions, sum(end_ms - start_ms) AS dur_ms, sum(actions) AS actions
      FROM sessions GROUP BY 1)
SELECT month, mau, coalesce(sessions, 0) AS sessions,
       coalesce(CAST(dur_ms AS DOUBLE) / 1000 / sessions, 0) AS avg_session_duration_s,
       coalesce(CAST(actions AS DOUBLE) / sessions, 0) AS avg_actions_per_session
FROM m LEFT JOIN s USING (month);

CREATE TEMP TABLE gold_quality AS
SELECT d.day, count(c.line) AS bronze_rows,
       count(c.line) FILTER (WHERE c.reason IS NULL AND NOT coalesce(v.dup, false)) AS valid_events,
       count(c.line) FILTER (WHERE c.reason = 'unknown_action') AS unknown_action,
       count(c.line) FILTER (WHERE c.reason = 'duration_out_of_range') AS duration_out_of_range,
       count(c.line) FILTER (WHERE v.dup) AS duplicate
FROM days d LEFT JOIN checked c USING (day) LEFT JOIN valid v USING (line)
GROUP BY d.day;
