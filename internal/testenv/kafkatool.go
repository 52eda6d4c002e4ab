package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KafkaTool runs one of Apache Kafka's Java command-line tools by its main class, such as
// "org.apache.kafka.tools.consumer.ConsoleConsumer" (kafka-console-consumer.sh), with args, failing
// the test on a non-zero exit; it returns the tool's stdout. The shell wrappers are not in the jars.
func KafkaTool(t testing.TB, mainClass string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	defer cancel()
	home := kafkaHome(t)
	java := append([]string{"-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dlog4j2.configurationFile=" + filepath.Join(home, "log4j2.properties"),
		"-cp", filepath.Join(home, "libs", "*"), mainClass}, args...)
	cmd := exec.CommandContext(ctx, "java", java...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("testenv: %s %s: %v\n%s", mainClass, strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}
