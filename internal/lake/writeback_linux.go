package lake

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing f's pages to disk without waiting, so that the
// fsync of the next Sync finds them written instead of writing a whole run's objects at once.
func startWriteback(f *os.File) {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE) // advice: Sync still fsyncs
}
