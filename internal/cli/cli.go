// Package cli applies NOTESTREAM_<FLAG> environment variables to a binary's flags.
package cli

import (
	"flag"
	"fmt"
	"os"
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
// variable, if that is present. Called before fs.Parse or after it, the command line wins either way.
func EnvFlags(fs *flag.FlagSet) error {
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("cli: %s=%q for flag -%s: %w", EnvName(f.Name), v, f.Name, e)
		}
	})
	return err
}
