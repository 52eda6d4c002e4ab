package compactor

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/tables"
)

// countryOf reads the country back from a key's country=... directory.
func countryOf(key string) (string, error) {
	dir := path.Base(path.Dir(key))
	v, ok := strings.CutPrefix(dir, "country=")
	if !ok {
		return "", fmt.Errorf("%s: not in a country= partition", key)
	}
	if v == "__HIVE_DEFAULT_PARTITION__" {
		return "", nil
	}
	return url.PathUnescape(v)
}

// rebuildUsers replaces silver/users with the latest bronze row of every user (by partition and
// offset; a user's records share a partition, as the key is user_id) and returns their segments. Its
// writes and deletes are fenced on the versions silver/users had before it read bronze.
func (c *Compactor) rebuildUsers(ctx context.Context) (map[string]userInfo, error) {
	f, err := c.takeFence(ctx, nil, tables.SilverUsers+"/")
	if err != nil {
		return nil, err
	}
	type latest struct {
		tables.BronzeUser
		country string
	}
	byUser := map[string]latest{}
	err = readCountries(ctx, c, tables.BronzeUsers, func(country string, rows []tables.BronzeUser) {
		for _, r := range rows {
			old, ok := byUser[r.UserID]
			if !ok || cmp.Or(cmp.Compare(r.KafkaPartition, old.KafkaPartition), cmp.Compare(r.KafkaOffset, old.KafkaOffset)) > 0 {
				byUser[r.UserID] = latest{r, country}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	byCountry := map[string][]tables.SilverUser{}
	users := make(map[string]userInfo, len(byUser))
	for id, u := range byUser {
		row := tables.SilverUser{UserID: id, DeviceType: u.DeviceType, SubscriptionType: u.SubscriptionType}
		if d, err := event.ParseDate(u.JoinDate); err == nil {
			row.JoinDate = &d
		}
		byCountry[u.country] = append(byCountry[u.country], row)
		users[id] = userInfo{segments: [len(event.Dimensions)]string{u.country, u.DeviceType, u.SubscriptionType}, joinDate: joinDay(row.JoinDate)}
	}
	written := map[string]bool{}
	var objs []object
	for _, country := range slices.Sorted(maps.Keys(byCountry)) {
		rows := byCountry[country]
		slices.SortFunc(rows, func(a, b tables.SilverUser) int { return cmp.Compare(a.UserID, b.UserID) })
		key := tables.SilverUsers + "/" + countryPartition(country) + "/" + partFile
		objs = append(objs, object{key, func(w io.Writer) error { return writeParquet(w, rows) }})
		written[key] = true
	}
	if err := c.putFenced(ctx, f, objs); err != nil {
		return nil, fmt.Errorf("write silver users: %w", err)
	}
	// Countries left by every user (whose users moved) go after the new partitions are in place.
	old, err := c.store.List(ctx, tables.SilverUsers+"/")
	if err != nil {
		return nil, err
	}
	for _, key := range old {
		if !written[key] {
			if err := c.deleteFenced(ctx, f, key); err != nil {
				return nil, err
			}
		}
	}
	return users, nil
}

// loadUsers reads the segments of every user from silver/users.
func (c *Compactor) loadUsers(ctx context.Context) (map[string]userInfo, error) {
	users := map[string]userInfo{}
	err := readCountries(ctx, c, tables.SilverUsers, func(country string, rows []tables.SilverUser) {
		for _, r := range rows {
			users[r.UserID] = userInfo{segments: [len(event.Dimensions)]string{country, r.DeviceType, r.SubscriptionType}, joinDate: joinDay(r.JoinDate)}
		}
	})
	return users, err
}

// joinDay is a silver join date as a day number, engagement.NoDay when there is none.
func joinDay(d *int32) int32 {
	if d == nil {
		return engagement.NoDay
	}
	return *d
}

// readCountries reads every object of a country-partitioned table and hands fn each one's rows, which
// fn must not keep: the slice is reused.
func readCountries[T any](ctx context.Context, c *Compactor, table string, fn func(country string, rows []T)) error {
	keys, err := c.store.List(ctx, table+"/")
	if err != nil {
		return err
	}
	var rows []T
	for _, key := range keys {
		country, err := countryOf(key)
		if err != nil {
			return err
		}
		b, err := c.store.Get(ctx, key)
		if err != nil {
			return err
		}
		if rows, err = tables.Read(rows[:0], key, b); err != nil {
			return err
		}
		fn(country, rows)
	}
	return nil
}
