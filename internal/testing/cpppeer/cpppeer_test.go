package cpppeer

import "testing"

func TestParseResults(t *testing.T) {
	out := "OK add\nRESULT p50_us=32.2 p99_us=120.5 cpu_us_per_call=19.7 n=3000\n" +
		"RESULT threads=4 calls_per_s=74857 cpu_us_per_call=11.6 n=4000\nOK bench\n"
	rs, err := ParseResults(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0]["p50_us"] != 32.2 || rs[0]["n"] != 3000 || rs[1]["threads"] != 4 || rs[1]["calls_per_s"] != 74857 {
		t.Fatalf("%v", rs)
	}
	if _, err := ParseResults("OK\n"); err == nil {
		t.Fatal("no RESULT line accepted")
	}
	if _, err := ParseResults("RESULT p50_us=x\n"); err == nil {
		t.Fatal("bad number accepted")
	}
}
