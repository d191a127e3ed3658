package robustness

import (
	"flag"
	"strings"
	"testing"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }

// TestRobustness is the fault run: by default the short one (80 s of
// traffic on 3 members) that CI runs; -args -seed N -duration D -size S
// (or CAIRN_ROBUSTNESS_*) repeat a run or make a long one (scripts/soak.sh).
func TestRobustness(t *testing.T) {
	if testing.Short() {
		t.Skip("robustness: the fault run takes about two minutes; skipped with -short")
	}
	cfg, err := ConfigFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	Run(t, cfg)
}

var flagReplay = flag.String("replay", "", "robustness: a recording-roundN.json a failed run wrote; TestReplay checks it again")

// TestReplay runs the checks of a recorded round again, offline:
//
//	go test ./tests/robustness -run TestReplay -args -replay DIR/recording-round3.json
func TestReplay(t *testing.T) {
	if *flagReplay == "" {
		return // a tool, not a check: it runs only on a recording it is given
	}
	rec, err := LoadRecording(*flagReplay)
	if err != nil {
		t.Fatal(err)
	}
	viz := strings.TrimSuffix(*flagReplay, ".json") + "-replay.html"
	v, err := rec.Check(viz)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range v {
		t.Error(s)
	}
	if len(v) > 0 {
		t.Logf("visualisation (if the history is not linearizable): %s", viz)
	}
}
