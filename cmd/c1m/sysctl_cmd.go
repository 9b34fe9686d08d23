package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"c1m/sysctl"
)

const sysctlUsage = `usage: c1m sysctl check  [--conns N] [--role server|loadgen] [--json] [--root DIR]
       c1m sysctl apply  [--role server|loadgen] [--dry-run] [--dir DIR] [--json] [--root DIR]
       c1m sysctl revert [--dir DIR] [--json] [--root DIR]

check   compares the live kernel settings and limits with what N connections need;
        exit status 1 when anything is short.
apply   sets the bundled profile through /proc/sys, never loosening a better value,
        installs it in DIR (default /etc/sysctl.d) and keeps a backup there.
revert  restores what apply replaced, from the backup in DIR.
--root  reads and writes a fake tree instead of / (for tests).
`

// runSysctl is `c1m sysctl check|apply|revert`. It returns the exit status:
// 0 when all is well, 1 when check finds a shortfall or a run fails, 2 for
// bad usage, reported in one sentence on stderr.
func runSysctl(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageError(stderr, "c1m sysctl: missing subcommand; want check, apply or revert.")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, sysctlUsage)
		return 0
	case "check", "apply", "revert":
	default:
		return usageError(stderr, fmt.Sprintf("c1m sysctl: unknown subcommand %q; want check, apply or revert.", sub))
	}

	fs := flag.NewFlagSet("c1m sysctl "+sub, flag.ContinueOnError)
	// Why discard: the flag package prints its own multi-line usage on an
	// error; we print one sentence instead.
	fs.SetOutput(io.Discard)
	jsonOut := fs.Bool("json", false, "print JSON for scripts")
	root := fs.String("root", "", "fake tree standing for /")
	var conns *int
	var role, dir *string
	var dryRun *bool
	if sub == "check" {
		conns = fs.Int("conns", 1_000_000, "connection target N")
	}
	if sub != "revert" {
		role = fs.String("role", string(sysctl.RoleServer), "server or loadgen")
	}
	if sub != "check" {
		dir = fs.String("dir", "", "sysctl.d directory for the profile and the backup")
	}
	if sub == "apply" {
		dryRun = fs.Bool("dry-run", false, "print the profile and the plan, write nothing")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, sysctlUsage)
			return 0
		}
		return usageError(stderr, fmt.Sprintf("c1m sysctl %s: %s.", sub, err))
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Sprintf("c1m sysctl %s: unexpected argument %q.", sub, fs.Arg(0)))
	}
	var r sysctl.Role
	if role != nil {
		var err error
		if r, err = sysctl.ParseRole(*role); err != nil {
			return usageError(stderr, fmt.Sprintf("c1m sysctl %s: --role must be server or loadgen, got %q.", sub, *role))
		}
	}
	env := sysctl.Env{Root: *root}

	switch sub {
	case "check":
		if *conns <= 0 {
			return usageError(stderr, fmt.Sprintf("c1m sysctl check: --conns must be a positive number of connections, got %d.", *conns))
		}
		return runCheck(env, *conns, r, *jsonOut, stdout, stderr)
	case "apply":
		return runApply(env, sysctl.ApplyOptions{Role: r, Dir: *dir, DryRun: *dryRun}, *jsonOut, stdout, stderr)
	default:
		return runRevert(env, *dir, *jsonOut, stdout, stderr)
	}
}

func usageError(stderr io.Writer, sentence string) int {
	fmt.Fprintln(stderr, sentence)
	return 2
}

func runCheck(env sysctl.Env, conns int, role sysctl.Role, jsonOut bool, stdout, stderr io.Writer) int {
	rows, err := sysctl.Check(env, conns, role)
	if err != nil {
		fmt.Fprintf(stderr, "c1m sysctl check: cannot check: %v\n", err)
		return 1
	}
	short := 0
	for _, r := range rows {
		if r.Short() {
			short++
		}
	}
	if jsonOut {
		writeJSON(stdout, struct {
			Conns int          `json:"conns"`
			Role  sysctl.Role  `json:"role"`
			Short int          `json:"short"`
			Rows  []sysctl.Row `json:"rows"`
		}{conns, role, short, rows})
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tCURRENT\tNEEDED\tSTATUS\tFIX")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Key, r.Current, r.Needed, r.Status, r.Fix)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d of %d settings are short for %d connections (role %s).\n", short, len(rows), conns, role)
	}
	if short > 0 {
		return 1
	}
	return 0
}

func runApply(env sysctl.Env, opts sysctl.ApplyOptions, jsonOut bool, stdout, stderr io.Writer) int {
	if opts.DryRun && !jsonOut {
		conf, err := sysctl.RenderProfile(env, opts.Role)
		if err != nil {
			fmt.Fprintf(stderr, "c1m sysctl apply: cannot render the profile: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "# --dry-run: would install %s with:\n%s\n", sysctl.SysctlProfileName(opts.Role), conf)
	}
	res, err := sysctl.Apply(env, opts)
	writeResults(stdout, res, jsonOut)
	if err != nil {
		fmt.Fprintf(stderr, "c1m sysctl apply: cannot apply: %v\n", err)
		return 1
	}
	return 0
}

func runRevert(env sysctl.Env, dir string, jsonOut bool, stdout, stderr io.Writer) int {
	res, err := sysctl.Revert(env, dir)
	if errors.Is(err, sysctl.ErrNoBackup) {
		fmt.Fprintf(stderr, "c1m sysctl revert: nothing to revert: %v.\n", err)
		return 1
	}
	writeResults(stdout, res, jsonOut)
	if err != nil {
		fmt.Fprintf(stderr, "c1m sysctl revert: cannot revert: %v\n", err)
		return 1
	}
	return 0
}

func writeResults(w io.Writer, res []sysctl.Result, jsonOut bool) {
	counts := map[sysctl.Outcome]int{}
	for _, r := range res {
		counts[r.Outcome]++
	}
	if jsonOut {
		if res == nil {
			res = []sysctl.Result{}
		}
		writeJSON(w, struct {
			Results []sysctl.Result `json:"results"`
		}{res})
		return
	}
	if len(res) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tOLD\tNEW\tOUTCOME\tWHY")
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Key, dash(r.Old), dash(r.New), r.Outcome, r.Why)
	}
	tw.Flush()
	var parts []string
	for _, o := range []sysctl.Outcome{sysctl.Applied, sysctl.WouldApply, sysctl.Unchanged, sysctl.Refused} {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	fmt.Fprintln(w, strings.Join(parts, ", ")+".")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Encoding plain structs of strings and ints cannot fail.
	_ = enc.Encode(v)
}
