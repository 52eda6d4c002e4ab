package main_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/testenv"
)

// TestDebugListener: pprof is served only on --debug-addr (a bare port means loopback), never on the
// API listener.
func TestDebugListener(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
	c := newConsumer(t, "consumer", k, r.URL, "ns:", "g")
	c.args = append(c.args, "--debug-addr", port)
	c.start()
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(time.Minute); status("http://"+c.http+"/healthz") != http.StatusOK; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the consumer did not answer /healthz within a minute")
		}
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
		if got := status("http://" + c.http + path); got != http.StatusNotFound {
			t.Errorf("API listener: GET %s = %d, want 404", path, got)
		}
		if got := status("http://127.0.0.1:" + port + path); got != http.StatusOK {
			t.Errorf("debug listener: GET %s = %d, want 200", path, got)
		}
	}

	// Off by default: the consumer above had its own flags; one without --debug-addr serves no pprof.
	c.kill()
	c.args = c.args[:len(c.args)-2]
	c.start()
	for deadline := time.Now().Add(time.Minute); status("http://"+c.http+"/healthz") != http.StatusOK; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the consumer did not answer /healthz within a minute")
		}
	}
	if got := status("http://127.0.0.1:" + port + "/debug/pprof/"); got != 0 {
		t.Errorf("without --debug-addr: GET 127.0.0.1:%s/debug/pprof/ = %d, want no listener", port, got)
	}
}
