package cli

import (
	"errors"
	"os"
	"runtime/pprof"
)

// CPUProfile starts a CPU profile written to path, for a --cpuprofile flag; stop ends it and closes the
// file. An empty path profiles nothing.
func CPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
