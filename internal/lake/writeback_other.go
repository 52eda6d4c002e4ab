//go:build !linux

package lake

import "os"

// startWriteback does nothing where sync_file_range(2) does not exist: Sync writes everything.
func startWriteback(*os.File) {}
