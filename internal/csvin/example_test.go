package csvin_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
)

func ExampleInteractionReader() {
	in := "user_id,timestamp,action_type,page_id,duration_ms,app_version\n" +
		"u123,2023-07-01 14:30:15,page_view,p456,12000,5.7.3\n" +
		"u124,2023-07-01T16:30:15.250+02:00,\"Edit\",\"p,1\",800,5.7.3\n" +
		"u125,2023-07-01 14:30:15,page_view,p456,12000\n" +
		"u126,yesterday,page_view,p456,12000,5.7.3\n"
	r := csvin.NewInteractionReader(strings.NewReader(in))
	for {
		var ev event.Interaction
		reason, err := r.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		if reason != event.OK {
			fmt.Printf("line %d: %s: %s\n", r.Line(), reason, r.Raw())
			continue
		}
		fmt.Printf("line %d: %s %s %s %s %d %s\n", r.Line(), ev.UserID,
			time.UnixMilli(ev.Time).UTC().Format(time.RFC3339Nano), ev.Action, ev.PageID, ev.DurationMs, ev.AppVersion)
	}
	// Output:
	// line 2: u123 2023-07-01T14:30:15Z page_view p456 12000 5.7.3
	// line 3: u124 2023-07-01T14:30:15.25Z Edit p,1 800 5.7.3
	// line 4: malformed: u125,2023-07-01 14:30:15,page_view,p456,12000
	// line 5: bad_timestamp: u126,yesterday,page_view,p456,12000,5.7.3
}
