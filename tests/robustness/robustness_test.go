package robustness

import (
	"testing"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }

// TestRobustness is the fault run: by default the short one (80 s of
// traffic on 3 members) that CI runs; -args -seed N -duration D -size S
// (or CAIRN_ROBUSTNESS_*) repeat a run or make a long one (scripts/soak.sh).
func TestRobustness(t *testing.T) {
	cfg, err := ConfigFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	Run(t, cfg)
}
