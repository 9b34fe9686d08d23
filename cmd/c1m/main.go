// Command c1m is the c1m WebSocket connection server, its benchmark and its
// tuning kit, in one binary:
//
//	c1m serve    run the server
//	c1m bench    run the C1M benchmark
//	c1m sysctl   check or apply the kernel and limits profile
//	c1m plan     size a deployment from the measured costs
//	c1m version  print the version
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: c1m <command> [flags]

commands:
  serve     run the WebSocket server (c1m serve --help)
  bench     run the C1M benchmark (c1m bench --help)
  sysctl    check|apply|revert the kernel and limits profile (c1m sysctl --help)
  plan      size a deployment: memory, CPU, boxes, sysctl values (c1m plan --help)
  version   print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "sysctl":
		return runSysctl(args[1:], stdout, stderr)
	case "plan":
		return runPlan(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "c1m %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "c1m: unknown command %q; run c1m help for the list.\n", args[0])
		return 2
	}
}
