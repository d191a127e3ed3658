package robustness

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Command-line flags of the test binary (after -args) and the environment
// variables that stand in for them. A flag wins over its variable.
var (
	flagSeed     = flag.Uint64("seed", 0, "robustness: seed of the run (0: pick one and print it); env "+envSeed)
	flagDuration = flag.Duration("duration", 0, "robustness: duration of the client traffic (default 80s); env "+envDuration)
	flagSize     = flag.Int("size", 0, "robustness: cluster size, 3 or 5 (default 3); env "+envSize)
	flagOutDir   = flag.String("outdir", "", "robustness: directory for the summary, the porcupine visualisation and the member logs; env "+envOutDir)
	flagFaults   = flag.String("faults", "", "robustness: comma-separated fault kinds to inject (default all); env "+envFaults)
	flagSelfTest = flag.Bool("selftest", false, "robustness: falsify one acknowledged put of round 1 in the recorded history, to see a failing run's report")
)

const (
	envSeed     = "CAIRN_ROBUSTNESS_SEED"
	envDuration = "CAIRN_ROBUSTNESS_DURATION"
	envSize     = "CAIRN_ROBUSTNESS_SIZE"
	envOutDir   = "CAIRN_ROBUSTNESS_OUTDIR"
	envFaults   = "CAIRN_ROBUSTNESS_FAULTS"
)

// Defaults of the short run that `go test ./tests/...` makes.
const (
	DefaultDuration = 80 * time.Second
	DefaultSize     = 3
	// MaxRound is the longest round: the traffic of a run is cut into
	// rounds of at most this long, each checked on its own (see Run).
	MaxRound = 60 * time.Second
)

// Config is one run of the harness.
type Config struct {
	Seed     uint64
	Duration time.Duration // client traffic in total, over every round
	Size     int           // members at the start: 3 or 5
	OutDir   string        // "" means: a new directory under os.TempDir, made on failure
	// Faults limits the fault kinds; nil means every kind.
	Faults []FaultKind
	// SelfTest falsifies the revision of one acknowledged put in round 1's
	// recorded history: the run must then fail and say so, which shows
	// what a failing run prints and writes.
	SelfTest bool
}

// ConfigFromFlags reads the flags and the environment.
func ConfigFromFlags() (Config, error) {
	c := Config{Seed: *flagSeed, Duration: *flagDuration, Size: *flagSize, OutDir: *flagOutDir, SelfTest: *flagSelfTest}
	if c.Seed == 0 {
		if s := os.Getenv(envSeed); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return c, fmt.Errorf("%s=%q: %w", envSeed, s, err)
			}
			c.Seed = v
		}
	}
	if c.Duration == 0 {
		if s := os.Getenv(envDuration); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil {
				return c, fmt.Errorf("%s=%q: %w", envDuration, s, err)
			}
			c.Duration = v
		}
	}
	if c.Size == 0 {
		if s := os.Getenv(envSize); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				return c, fmt.Errorf("%s=%q: %w", envSize, s, err)
			}
			c.Size = v
		}
	}
	if c.OutDir == "" {
		c.OutDir = os.Getenv(envOutDir)
	}
	faults := *flagFaults
	if faults == "" {
		faults = os.Getenv(envFaults)
	}
	if faults != "" {
		for _, f := range strings.Split(faults, ",") {
			k := FaultKind(strings.TrimSpace(f))
			if !slices.Contains(AllFaults, k) {
				return c, fmt.Errorf("robustness: unknown fault kind %q; known: %v", k, AllFaults)
			}
			c.Faults = append(c.Faults, k)
		}
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())%1_000_000_000 + 1
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Size != 3 && c.Size != 5 {
		return c, fmt.Errorf("robustness: cluster size %d, want 3 or 5", c.Size)
	}
	if c.Duration < 10*time.Second {
		return c, fmt.Errorf("robustness: duration %v, want at least 10s", c.Duration)
	}
	return c, nil
}

// Rounds cuts the duration into rounds of at most MaxRound, of equal length.
func (c Config) Rounds() (n int, each time.Duration) {
	n = int((c.Duration + MaxRound - 1) / MaxRound)
	return n, c.Duration / time.Duration(n)
}

// ReproduceArgs is the command that repeats this run.
func (c Config) ReproduceArgs() string {
	s := fmt.Sprintf("go test ./tests/robustness -run '^TestRobustness$' -count=1 -v -timeout %v -args -seed %d -duration %v -size %d",
		c.TestTimeout().Round(time.Minute), c.Seed, c.Duration, c.Size)
	if c.Faults != nil {
		var fs []string
		for _, f := range c.Faults {
			fs = append(fs, string(f))
		}
		s += " -faults " + strings.Join(fs, ",")
	}
	return s
}

// TestTimeout is a generous bound on the whole run.
func (c Config) TestTimeout() time.Duration {
	n, _ := c.Rounds()
	return c.Duration + time.Duration(n)*4*time.Minute + 10*time.Minute
}
