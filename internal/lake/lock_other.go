//go:build !unix

package lake

import "errors"

// lockFile fails where flock(2) does not exist: a directory lake cannot take conditional writes there.
func lockFile(string) (func(), error) {
	return nil, errors.New("conditional writes to a directory need flock(2), which this system lacks")
}
