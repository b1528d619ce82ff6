// Package calculator_test runs the calculator example end to end: the
// three programs are built into a temporary directory and the parent is
// started the three ways a user starts a program.
package calculator_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCalculatorExample(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	want := []string{
		`calc: spawned calc-printer \(pid [0-9]+\) and calc-calculator \(pid [0-9]+\)`,
		`printer: 2 \+ 3 = 5`, // printed by calc-printer, called by calc-calculator through calc
		`calc: 2 \+ 3 -> 5`,
		`printer: 6 \* 7 = 42`,
		`calc: 6 \* 7 -> 42`,
		`calc: 1 / 0: Calculator\.evaluate: remote failed: "1 / 0": division by zero`,
		`calc: calc-calculator exit status 0`,
		`calc: calc-printer exit status 0`,
	}
	for _, tc := range []struct {
		name, argv0, dir string
		env              []string
	}{
		// Started as ./calc: the workers are found next to it, not on PATH.
		{"relative", "./calc", bin, []string{"PATH=/nonexistent"}},
		{"absolute", filepath.Join(bin, "calc"), t.TempDir(), []string{"PATH=/nonexistent"}},
		// Found on PATH, as a shell finds it.
		{"PATH", "calc", t.TempDir(), []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, "calc"))
			cmd.Args[0] = tc.argv0
			cmd.Dir = tc.dir
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("calc: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			if len(lines) != len(want) {
				t.Fatalf("calc printed %d lines, want %d:\n%s", len(lines), len(want), out)
			}
			for i, w := range want {
				if !regexp.MustCompile("^" + w + "$").MatchString(lines[i]) {
					t.Errorf("line %d: %q, want %q", i+1, lines[i], w)
				}
			}
		})
	}
}
