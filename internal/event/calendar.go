package event

import (
	"fmt"
	"time"
)

// Days of sessions, metrics and the lake are calendar dates in the pipeline's zone (--tz), held as day
// numbers: days since 1970-01-01, int32. Months are YYYY-MM, weeks start on Monday.

// Window lengths of the active-user counts, in days ending on (and including) the day asked for.
const (
	WAUDays = 7
	MAUDays = 30
)

const msPerDay = 24 * 60 * 60 * 1000

// DayOf is the calendar day in loc of the Unix millisecond t. A nil loc means UTC.
func DayOf(t int64, loc *time.Location) int32 {
	if loc == nil || loc == time.UTC {
		return int32(floorDiv(t, msPerDay))
	}
	_, off := time.UnixMilli(t).In(loc).Zone()
	return int32(floorDiv(t+int64(off)*1000, msPerDay))
}

// Date formats a day number as YYYY-MM-DD.
func Date(d int32) string {
	y, m, dd := Civil(int64(d))
	return fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
}

// Month formats a day number's month as YYYY-MM.
func Month(d int32) string {
	y, m, _ := Civil(int64(d))
	return fmt.Sprintf("%04d-%02d", y, m)
}

// ParseDate parses YYYY-MM-DD into a day number.
func ParseDate(s string) (int32, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, err
	}
	return int32(t.Unix() / 86400), nil
}

// ParseMonth parses YYYY-MM into the day numbers of its first and last days.
func ParseMonth(s string) (first, last int32, err error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return 0, 0, err
	}
	return int32(t.Unix() / 86400), int32(t.AddDate(0, 1, 0).Unix()/86400) - 1, nil
}

// Civil returns the proleptic Gregorian date of days since 1970-01-01: Howard Hinnant's
// civil_from_days, with eras of 400 years (146,097 days) starting on March 1st.
func Civil(days int64) (year, month, day int) {
	z := days + 719_468 // days since 0000-03-01
	era := z / 146_097
	if z < 0 && z%146_097 != 0 {
		era--
	}
	doe := z - era*146_097                                   // day of era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36_524 - doe/146_096) / 365 // year of era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)                 // day of the year from March 1st, [0, 365]
	mp := (5*doy + 2) / 153                                  // month from March, [0, 11]
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, day
}

// DaysFromCivil is the inverse of Civil: days from 1970-01-01 to the proleptic Gregorian date y-m-d
// (Howard Hinnant's days_from_civil).
func DaysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
