-- gold.sql: the contract's gold tables computed by DuckDB straight from the CSV files in @CSV@
-- (readable rows only: run it on `datagen --clean` output, where every row is readable), in UTC.
SET TimeZone = 'UTC';
SET preserve_insertion_order = true;

CREATE TEMP TABLE users AS
SELECT user_id, country, device_type, subscription_type, join_date FROM (
  SELECT trim(user_id) AS user_id, country, device_type, subscription_type, try_cast(join_date AS DATE) AS join_date,
         row_number() OVER () AS line
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
       coalesce(CAST(actions AS DOUBLE) / sessions, 0) AS avg_actions_per_session,
       CASE WHEN mau = 0 THEN 0 ELSE coalesce(sessions, 0) / mau END AS sessions_per_user
FROM m LEFT JOIN s USING (month);

CREATE TEMP TABLE gold_quality AS
SELECT d.day, count(c.line) AS bronze_rows,
       count(c.line) FILTER (WHERE c.reason IS NULL AND NOT coalesce(v.dup, false)) AS valid_events,
       count(c.line) FILTER (WHERE c.reason = 'unknown_action') AS unknown_action,
       count(c.line) FILTER (WHERE c.reason = 'duration_out_of_range') AS duration_out_of_range,
       count(c.line) FILTER (WHERE v.dup) AS duplicate
FROM days d LEFT JOIN checked c USING (day) LEFT JOIN valid v USING (line)
GROUP BY d.day;

-- Engagement (SPEC section 8). Each active user's month: engaged time, events, sessions started, days.
CREATE TEMP TABLE month_users AS
WITH e AS (SELECT strftime(day, '%Y-%m') AS month, user_id, sum(duration_ms) AS engaged_ms, count(*) AS events,
                  count(DISTINCT day) AS active_days
           FROM valid WHERE NOT dup GROUP BY ALL),
s AS (SELECT strftime(day, '%Y-%m') AS month, user_id, count(*) AS sessions FROM sessions GROUP BY ALL)
SELECT e.*, coalesce(s.sessions, 0) AS sessions FROM e LEFT JOIN s USING (month, user_id);

-- The top @PCT_NUM@/@PCT_DEN@ percent: ranks 1 … ceil(X·n/100) in integers, ties by user_id in byte order.
CREATE TEMP TABLE gold_power_users AS
WITH r AS (
  SELECT *, row_number() OVER (PARTITION BY month ORDER BY engaged_ms DESC, user_id COLLATE "binary") AS rank,
         count(*) OVER (PARTITION BY month) AS n, sum(engaged_ms) OVER (PARTITION BY month) AS total
  FROM month_users)
SELECT month, rank, user_id, engaged_ms, events, sessions, active_days,
       CASE WHEN total = 0 THEN NULL ELSE CAST(engaged_ms AS DOUBLE) / total END AS share_of_engaged_ms
FROM r WHERE rank <= (n * @PCT_NUM@ + 100 * @PCT_DEN@ - 1) // (100 * @PCT_DEN@);

CREATE TEMP TABLE gold_session_frequency AS
WITH b(bucket, lo, hi) AS (VALUES ('1', 1, 1), ('2', 2, 2), ('3-5', 3, 5), ('6-10', 6, 10), ('11-20', 11, 20), ('21+', 21, 9223372036854775807)),
m AS (SELECT DISTINCT strftime(day, '%Y-%m') AS month FROM days),
c AS (SELECT m.month, b.bucket, count(u.user_id) AS users
      FROM m CROSS JOIN b LEFT JOIN month_users u ON u.month = m.month AND u.sessions BETWEEN b.lo AND b.hi GROUP BY ALL),
a AS (SELECT month, count(*) AS active FROM month_users GROUP BY 1)
SELECT c.month, c.bucket, c.users,
       CASE WHEN coalesce(a.active, 0) = 0 THEN NULL ELSE CAST(c.users AS DOUBLE) / a.active END AS share
FROM c LEFT JOIN a USING (month);

-- Weekly cohorts: ISO weeks (Monday) of the first valid event and of the latest join_date.
CREATE TEMP TABLE bounds AS
SELECT min(day) AS first_day, max(day) AS last_day, CAST(date_trunc('week', max(day)) AS DATE) AS last_week FROM active;

CREATE TEMP TABLE members AS
SELECT 'first_seen' AS basis, user_id, CAST(date_trunc('week', min(day)) AS DATE) AS cohort_week FROM active GROUP BY user_id
UNION ALL
SELECT 'join_date', u.user_id, CAST(date_trunc('week', u.join_date) AS DATE)
FROM users u, bounds b
WHERE u.join_date IS NOT NULL AND CAST(date_trunc('week', u.join_date) AS DATE) <= b.last_day
  AND CAST(date_trunc('week', u.join_date) AS DATE) + 6 >= b.first_day;

CREATE TEMP TABLE gold_cohorts AS
WITH sizes AS (SELECT basis, cohort_week, count(*) AS cohort_size FROM members GROUP BY ALL),
offs AS (SELECT s.*, unnest(range(0, (b.last_week - s.cohort_week) // 7 + 1)) AS week_offset FROM sizes s, bounds b),
weeks AS (SELECT DISTINCT user_id, CAST(date_trunc('week', day) AS DATE) AS week FROM active),
ret AS (SELECT m.basis, m.cohort_week, (w.week - m.cohort_week) // 7 AS week_offset, count(*) AS retained
        FROM members m JOIN weeks w ON w.user_id = m.user_id AND w.week >= m.cohort_week GROUP BY ALL)
SELECT o.cohort_week, o.basis, o.week_offset, o.cohort_size, coalesce(r.retained, 0) AS retained_users,
       CAST(coalesce(r.retained, 0) AS DOUBLE) / o.cohort_size AS retention,
       o.cohort_week + CAST(7 * o.week_offset AS INTEGER) >= b.first_day AND o.cohort_week + CAST(7 * o.week_offset + 6 AS INTEGER) <= b.last_day AS complete
FROM offs o CROSS JOIN bounds b LEFT JOIN ret r USING (basis, cohort_week, week_offset);
