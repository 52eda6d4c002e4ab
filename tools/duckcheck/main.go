// Command duckcheck reads every lake table with DuckDB and compares the lake's gold with DuckDB's own
// computation from the CSV files. It lives in its own module so the main build stays free of cgo.
//
//	duckcheck -lake DIR                 read every table, print row counts and column types
//	duckcheck -csv DIR                  compute gold from the CSV files (gold.sql), timed
//	duckcheck -lake DIR -csv DIR        both, then compare the gold tables row for row
//
// -power-users-pct must be the compactor's --power-users-pct (default 1). `go test` (cgo) replays a
// generated clean year through the repository's binaries and runs the comparison (TestLakeEqualsSQL).
package main

import (
	"context"
	"database/sql"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

//go:embed gold.sql
var goldSQL string

var tables = []string{
	"bronze/interactions", "bronze/users", "silver/interactions", "silver/sessions", "silver/users",
	"gold/daily_metrics", "gold/daily_segments", "gold/monthly_metrics", "gold/data_quality", "gold/daily_sketches",
	"gold/power_users", "gold/cohort_retention", "gold/session_frequency",
}

// comparisons pair a table of gold.sql with the lake table it must equal, column for column.
var comparisons = []struct{ name, sql, lake string }{
	{"daily_metrics",
		`SELECT CAST(day AS VARCHAR), dau, wau, mau, stickiness, sessions, avg_session_duration_s, avg_actions_per_session, p50_session_duration_s, p95_session_duration_s, sessions_per_user FROM gold_daily`,
		`SELECT date, dau, wau, mau, stickiness, sessions, avg_session_duration_s, avg_actions_per_session, p50_session_duration_s, p95_session_duration_s, sessions_per_user FROM %s`},
	{"daily_segments",
		`SELECT CAST(day AS VARCHAR), dimension, value, dau, sessions, avg_session_duration_s, avg_actions_per_session FROM gold_segments`,
		`SELECT date, dimension, value, dau, sessions, avg_session_duration_s, avg_actions_per_session FROM %s`},
	{"monthly_metrics",
		`SELECT month, mau, sessions, avg_session_duration_s, avg_actions_per_session, sessions_per_user FROM gold_monthly`,
		`SELECT month, mau, sessions, avg_session_duration_s, avg_actions_per_session, sessions_per_user FROM %s`},
	{"data_quality",
		`SELECT CAST(day AS VARCHAR), bronze_rows, valid_events, unknown_action, duration_out_of_range, duplicate FROM gold_quality`,
		`SELECT date, bronze_rows, valid_events, unknown_action, duration_out_of_range, duplicate FROM %s`},
	{"power_users",
		`SELECT month, rank, user_id, engaged_ms, events, sessions, active_days, share_of_engaged_ms FROM gold_power_users`,
		`SELECT month, rank, user_id, engaged_ms, events, sessions, active_days, share_of_engaged_ms FROM %s`},
	{"session_frequency",
		`SELECT month, bucket, users, share FROM gold_session_frequency`,
		`SELECT month, bucket, users, share FROM %s`},
	{"cohort_retention",
		`SELECT CAST(cohort_week AS VARCHAR), basis, week_offset, cohort_size, retained_users, retention, complete FROM gold_cohorts`,
		`SELECT cohort_week, basis, week_offset, cohort_size, retained_users, retention, complete FROM %s`},
}

func main() {
	lake := flag.String("lake", "", "lake directory (file:// lake root)")
	csv := flag.String("csv", "", "directory with user_interactions.csv and user_metadata.csv")
	pct := flag.String("power-users-pct", "1", "the compactor's --power-users-pct, a plain decimal")
	flag.Parse()
	if *lake == "" && *csv == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), *lake, *csv, *pct); err != nil {
		log.Fatal(err)
	}
}

// decimal writes a plain decimal X as integers num/den (den a power of ten).
func decimal(x string) (num, den string, err error) {
	whole, frac, _ := strings.Cut(x, ".")
	n, err := strconv.ParseUint(whole+frac, 10, 63)
	if err != nil || whole == "" {
		return "", "", fmt.Errorf("-power-users-pct %q: not a plain decimal", x)
	}
	return strconv.FormatUint(n, 10), "1" + strings.Repeat("0", len(frac)), nil
}

func scan(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b any
		if err := rows.Scan(&a, &b); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprint(a, " ", b))
	}
	return out, rows.Err()
}

func run(ctx context.Context, lake, csv, pct string) error {
	num, den, err := decimal(pct)
	if err != nil {
		return err
	}
	gold := strings.NewReplacer("@PCT_NUM@", num, "@PCT_DEN@", den).Replace(goldSQL)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // temp tables live in one connection

	if csv != "" {
		abs, err := filepath.Abs(csv)
		if err != nil {
			return err
		}
		start := time.Now()
		if _, err := db.ExecContext(ctx, strings.ReplaceAll(gold, "@CSV@", abs)); err != nil {
			return fmt.Errorf("gold.sql: %w", err)
		}
		if _, err := db.ExecContext(ctx, strings.ReplaceAll(perfSQL, "@CSV@", abs)); err != nil {
			return fmt.Errorf("perf.sql: %w", err)
		}
		fmt.Printf("duckdb: gold from CSV in %.2f s\n", time.Since(start).Seconds())
	}
	if lake == "" {
		return nil
	}
	read := func(table string) string {
		return fmt.Sprintf("read_parquet('%s/%s/*/*.parquet', hive_partitioning = true, hive_types_autocast = false)", lake, table)
	}
	for _, t := range append(tables, perfTables...) {
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+read(t)).Scan(&n); err != nil {
			return fmt.Errorf("read %s: %w", t, err)
		}
		rows, err := db.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+read(t)+")")
		if err != nil {
			return fmt.Errorf("describe %s: %w", t, err)
		}
		cols, err := scan(rows)
		if err != nil {
			return err
		}
		fmt.Printf("%-20s %9d rows  %s\n", t, n, strings.Join(cols, ", "))
	}
	if csv == "" {
		return nil
	}
	bad := 0
	for _, c := range append(comparisons, perfComparisons...) {
		lakeSQL := fmt.Sprintf(c.lake, read("gold/"+c.name))
		var onlySQL, onlyLake, total int64
		q := fmt.Sprintf("SELECT (SELECT count(*) FROM (%[1]s EXCEPT ALL %[2]s)), (SELECT count(*) FROM (%[2]s EXCEPT ALL %[1]s)), (SELECT count(*) FROM (%[1]s))", c.sql, lakeSQL)
		if err := db.QueryRowContext(ctx, q).Scan(&onlySQL, &onlyLake, &total); err != nil {
			return fmt.Errorf("compare %s: %w", c.name, err)
		}
		fmt.Printf("compare %-16s %6d rows: %d only in DuckDB's, %d only in the lake's\n", c.name, total, onlySQL, onlyLake)
		if onlySQL+onlyLake > 0 {
			bad++
			rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT 'duckdb', * FROM (%s EXCEPT ALL %s) UNION ALL SELECT 'lake', * FROM (%[2]s EXCEPT ALL %[1]s) ORDER BY 2, 1 LIMIT 10", c.sql, lakeSQL))
			if err == nil {
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					rows.Scan(ptrs...)
					fmt.Println("   ", vals)
				}
				rows.Close()
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d gold tables differ", bad)
	}
	return nil
}
