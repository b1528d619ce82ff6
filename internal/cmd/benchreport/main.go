// Command benchreport measures bitcoin-ipc's IPC against the raw socket
// floor and the C++ reference in one run and writes BENCHMARKS.md:
//
//	go run ./internal/cmd/benchreport -o BENCHMARKS.md    # = make bench
//
// Every measurement runs between two processes on a socketpair: this
// program re-executes itself as each Go end (the environment variable
// BITCOIN_IPC_BENCH_CHILD says which), and the C++ ends are the interop
// peer (internal/testing/cpppeer), which internal/testing/cpppeer builds and caches.
// See measure.go for what runs, report.go for the targets.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	if env, ok := os.LookupEnv(childEnv); ok {
		os.Exit(childMain(env))
	}
	cfg := DefaultConfig()
	out := flag.String("o", "BENCHMARKS.md", "write the report to this file (- for stdout)")
	quick := flag.Bool("quick", false, "tiny iteration counts, for trying the program out")
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "interleaved rounds of the round-trip pairings")
	flag.IntVar(&cfg.N, "n", cfg.N, "sequential calls timed per pairing and round")
	flag.IntVar(&cfg.TputN, "tput-n", cfg.TputN, "calls per throughput point")
	flag.Float64Var(&cfg.ProfSecs, "prof-secs", cfg.ProfSecs, "seconds of the profiled echo loop")
	flag.IntVar(&cfg.ProfHz, "prof-hz", cfg.ProfHz, "CPU profile sampling rate")
	flag.StringVar(&cfg.Only, "only", "", "run only these areas: pairs, blocks, gen, profile (comma-separated)")
	flag.Parse()
	if *quick {
		cfg = quickConfig(cfg)
	}
	cfg.Progress = os.Stderr
	res := Run(cfg)
	md := Render(res, readMachine())
	if *out == "-" {
		os.Stdout.WriteString(md)
	} else {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "wrote %s (%s)\n", *out, res.Elapsed.Round(time.Second))
	}
	if len(res.Errors) > 0 {
		os.Exit(1)
	}
}

// quickConfig shrinks cfg to a few seconds' worth of work.
func quickConfig(cfg Config) Config {
	cfg.Rounds = 1
	cfg.N = 300
	cfg.TputN = 400
	cfg.BlockN = 3
	cfg.ProfSecs = 0.5
	cfg.GenRuns = 1
	return cfg
}
