// Package cli holds what the binaries' mains do alike: flags from the command line or NOTESTREAM_<FLAG>
// environment variables, and exit statuses.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// EnvPrefix starts the name of every flag's environment variable.
const EnvPrefix = "NOTESTREAM_"

// EnvName returns the environment variable for flag name: NOTESTREAM_ and the name in upper case with
// '-' as '_' ("sasl-user" gives NOTESTREAM_SASL_USER).
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// EnvFlags sets every flag of fs that is not already set on the command line from its environment
// variable, looked up with env (os.LookupEnv in a binary). Called before fs.Parse or after it, the
// command line wins either way.
func EnvFlags(fs *flag.FlagSet, env func(string) (string, bool)) error {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		v, ok := env(EnvName(f.Name))
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("cli: %s=%q for flag -%s: %w", EnvName(f.Name), v, f.Name, e)
		}
	})
	return err
}

// Parse parses args into fs, then sets the flags the command line left unset from env. fs should be
// flag.ContinueOnError: it then prints a bad command line itself, with its usage, and Parse returns that
// error as a usage error that Exit does not print again. -h gives flag.ErrHelp, which Exit takes for
// success.
func Parse(fs *flag.FlagSet, args []string, env func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err: err, printed: true}
	}
	if err := EnvFlags(fs, env); err != nil {
		return Usage(err)
	}
	return nil
}

// usageError is a command line or an environment a binary cannot run with.
type usageError struct {
	err     error
	printed bool // by the flag package
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// Usage marks err, if not nil, as a usage error: a flag or environment variable asks for what cannot be
// done. A binary exits 2 for it.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err: err}
}

// Usagef is Usage(fmt.Errorf(format, a...)).
func Usagef(format string, a ...any) error { return Usage(fmt.Errorf(format, a...)) }

// isUsage reports whether err is a usage error.
func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// reportedError is an error already shown to the user.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// Reported marks err, if not nil, as already shown to the user, such as by a binary's logger, so that
// main does not print it again.
func Reported(err error) error {
	if err == nil {
		return nil
	}
	return &reportedError{err: err}
}

// printed reports whether err has been shown already: by the flag package (a bad command line, or -h)
// or as Reported.
func printed(err error) bool {
	var u *usageError
	var r *reportedError
	return errors.Is(err, flag.ErrHelp) || (errors.As(err, &u) && u.printed) || errors.As(err, &r)
}

// ExitCode returns a binary's exit status for the error its run returned: 0 for none or -h, 2 for a
// usage error, 1 for any other.
func ExitCode(err error) int {
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		return 2
	default:
		return 1
	}
}

// Exit is how a binary's main ends after run: it prints err on w as "name: err", unless err has been
// shown already, and returns the exit status for it.
func Exit(w io.Writer, name string, err error) int {
	if err != nil && !printed(err) {
		fmt.Fprintf(w, "%s: %v\n", name, err)
	}
	return ExitCode(err)
}

// ParseSize reads a byte count flag: a number of bytes, or one with a K, M or G suffix (powers of 1024).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64/mult {
		return 0, errors.New("want a positive byte count such as 268435456, 256M or 1G")
	}
	return v * mult, nil
}
