package rtstore

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestDial(t *testing.T) {
	f := func(url, wantPassword string, wantAddrs []string) {
		t.Helper()
		rdb, err := Dial(url)
		if err != nil {
			t.Fatalf("Dial(%q): %v", url, err)
		}
		defer rdb.Close()
		switch c := rdb.(type) {
		case *redis.Client:
			if len(wantAddrs) != 1 || c.Options().Addr != wantAddrs[0] || c.Options().Password != wantPassword {
				t.Errorf("Dial(%q) = one server at %s, want %v", url, c.Options().Addr, wantAddrs)
			}
		case *redis.ClusterClient:
			o := c.Options()
			if strings.Join(o.Addrs, ",") != strings.Join(wantAddrs, ",") || o.Password != wantPassword {
				t.Errorf("Dial(%q) = cluster %v (password %q), want %v", url, o.Addrs, o.Password, wantAddrs)
			}
			if o.ClusterStateReloadInterval != time.Second {
				t.Errorf("Dial(%q): slot map reloaded every %v, want 1s", url, o.ClusterStateReloadInterval)
			}
		default:
			t.Errorf("Dial(%q) = %T", url, rdb)
		}
	}
	f("redis://127.0.0.1:6379", "", []string{"127.0.0.1:6379"})
	f("redis+cluster://u:pw@10.0.0.1:7000", "pw", []string{"10.0.0.1:7000"})
	f("redis+cluster://u:pw@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", "pw", []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"})
	f("rediss+cluster://10.0.0.1:7000?addr=10.0.0.2:7000", "", []string{"10.0.0.1:7000", "10.0.0.2:7000"})

	for _, bad := range []string{"http://u:secret@h:1", "redis+cluster://u:secret@h:1?colour=red", "redis://u:secret@h:1?addr=h2:1"} {
		if _, err := Dial(bad); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("Dial(%q) = %v, want an error without the password", bad, err)
		}
	}
}
