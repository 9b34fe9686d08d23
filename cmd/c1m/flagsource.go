package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// applyFlagSources fills every flag of fs that the command line did not set
// from the environment (C1M_<NAME>, dashes as underscores), and then from
// the config file (lines of "name = value", # comments). Precedence:
// flags > C1M_* environment > config file > built-in default.
func applyFlagSources(fs *flag.FlagSet, configPath string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	file := map[string]string{}
	if configPath != "" {
		var err error
		if file, err = readConfigFile(configPath); err != nil {
			return err
		}
		for name := range file {
			if fs.Lookup(name) == nil {
				return fmt.Errorf("cannot use config file %s: unknown setting %q", configPath, name)
			}
		}
	}
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || firstErr != nil {
			return
		}
		env := "C1M_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				firstErr = fmt.Errorf("cannot use %s=%q: %w", env, v, err)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := f.Value.Set(v); err != nil {
				firstErr = fmt.Errorf("cannot use %q for %s from %s: %w", v, f.Name, configPath, err)
			}
		}
	})
	return firstErr
}

func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open config file: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("cannot parse config file %s line %d: want name = value", path, n)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read config file %s: %w", path, err)
	}
	return out, nil
}

// parseFlags parses args into fs. On -h it prints the flag list to stdout
// and returns (0, false); on an error it prints one sentence to stderr
// instead of the flag package's multi-line usage and returns (2, false).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (int, bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case err == nil && fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q.\n", fs.Name(), fs.Arg(0))
		return 2, false
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "usage: %s [flags]\n", fs.Name())
		fs.PrintDefaults()
		return 0, false
	}
	fmt.Fprintf(stderr, "%s: %v.\n", fs.Name(), err)
	return 2, false
}
