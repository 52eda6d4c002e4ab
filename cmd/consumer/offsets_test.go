package main_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/notestream/notestream/internal/testenv"
)

// groupsAtEnd waits until each group's offsets committed to Kafka reach the end of every partition
// of interactions, then asks Kafka's own consumer-groups tool (kafka-consumer-groups --describe)
// and checks that it shows every partition of every group at lag 0.
func groupsAtEnd(t *testing.T, k *testenv.Kafka, timeout time.Duration, groups ...string) {
	t.Helper()
	adm := kadm.NewClient(k.Client(t))
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, "interactions")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for _, g := range groups {
		for {
			why := ""
			committed, err := adm.FetchOffsets(ctx, g)
			if err != nil {
				why = err.Error()
			}
			ends.Each(func(o kadm.ListedOffset) {
				if c, ok := committed.Lookup("interactions", o.Partition); !ok || c.At != o.Offset {
					why = fmt.Sprintf("partition %d committed at %d (%v), end %d", o.Partition, c.At, ok, o.Offset)
				}
			})
			if why == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %s: offsets in Kafka not at the end within %v: %s", g, timeout, why)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	args := []string{"--bootstrap-server", k.Addr, "--command-config", k.ClientProperties(t), "--describe"}
	for _, g := range groups {
		args = append(args, "--group", g)
	}
	out := string(testenv.KafkaTool(t, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", args...))
	// GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
	seen := map[string]int{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 6 || !slices.Contains(groups, f[0]) || f[1] != "interactions" {
			continue
		}
		seen[f[0]]++
		if f[5] != "0" {
			t.Errorf("kafka-consumer-groups: group %s partition %s at lag %s: %s", f[0], f[2], f[5], line)
		}
	}
	for _, g := range groups {
		if seen[g] != len(ends["interactions"]) {
			t.Errorf("kafka-consumer-groups describes %d partitions of group %s, want %d:\n%s", seen[g], g, len(ends["interactions"]), out)
		}
	}
}
