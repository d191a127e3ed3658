package robustness

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// OpCounts counts the operations of one kind by outcome.
type OpCounts struct {
	OK            int `json:"ok"`
	LeaseNotFound int `json:"lease_not_found,omitempty"`
	Unknown       int `json:"unknown"` // timeouts, lost connections, unavailable
}

// Summary is what a run did and found. It is printed at the end and
// written as summary.json into the output directory.
type Summary struct {
	Seed      uint64        `json:"seed"`
	Duration  string        `json:"duration"`
	Size      int           `json:"size"`
	Rounds    int           `json:"rounds"`
	Elapsed   string        `json:"elapsed"`
	Reproduce string        `json:"reproduce"`
	Binary    string        `json:"binary"`
	elapsed   time.Duration // for printing
	started   time.Time

	Ops                      map[string]*OpCounts `json:"ops"`
	TotalOps                 int                  `json:"total_ops"`
	UnknownResolved          int                  `json:"unknown_resolved_from_history"`
	UnknownDropped           int                  `json:"unknown_dropped"`
	UnknownKept              int                  `json:"unknown_kept_as_unknown"`
	LinearizabilityOps       int                  `json:"linearizability_ops_checked"`
	LinearizabilityTime      string               `json:"linearizability_check_time"`
	linTime                  time.Duration
	Revisions                int64          `json:"revisions_checked"`
	AckedWritesChecked       int            `json:"acknowledged_writes_checked"`
	SerializableReadsChecked int            `json:"serializable_reads_checked"`
	Watchers                 int            `json:"watchers"`
	WatchResumes             int            `json:"watch_resumes"`
	WatchResponses           int            `json:"watch_responses"`
	WatchEventsChecked       int            `json:"watch_events_checked"`
	ProgressChecked          int            `json:"progress_notifications_checked"`
	HashKVChecks             int            `json:"hashkv_checks"`
	Faults                   map[string]int `json:"faults"`
	FaultLog                 []string       `json:"fault_log"`
	Notes                    []string       `json:"notes,omitempty"`
	Violations               []string       `json:"violations"`
	Visualizations           []string       `json:"porcupine_visualizations,omitempty"`
}

func newSummary(cfg Config) *Summary {
	n, _ := cfg.Rounds()
	return &Summary{
		Seed: cfg.Seed, Duration: cfg.Duration.String(), Size: cfg.Size, Rounds: n,
		Reproduce: cfg.ReproduceArgs(), started: time.Now(),
		Ops: map[string]*OpCounts{}, Faults: map[string]int{}, Violations: []string{},
	}
}

func (s *Summary) countOps(ops []Op) {
	for _, o := range ops {
		c := s.Ops[o.In.Kind.String()]
		if c == nil {
			c = &OpCounts{}
			s.Ops[o.In.Kind.String()] = c
		}
		switch {
		case o.Out.Unknown:
			c.Unknown++
		case o.Out.LeaseNotFound:
			c.LeaseNotFound++
		default:
			c.OK++
		}
		s.TotalOps++
	}
}

// String is the human-readable summary.
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "robustness run: seed %d, %s of traffic in %d round(s), %d members, took %v\n", s.Seed, s.Duration, s.Rounds, s.Size, s.elapsed.Round(time.Second))
	fmt.Fprintf(&b, "  operations: %d", s.TotalOps)
	for _, k := range slices.Sorted(maps.Keys(s.Ops)) {
		c := s.Ops[k]
		fmt.Fprintf(&b, "; %s %d ok", k, c.OK)
		if c.LeaseNotFound > 0 {
			fmt.Fprintf(&b, " %d lease-not-found", c.LeaseNotFound)
		}
		fmt.Fprintf(&b, " %d unknown", c.Unknown)
	}
	fmt.Fprintf(&b, "\n  outcome unknown: %d resolved from the history, %d dropped (no effect), %d checked as unknown\n", s.UnknownResolved, s.UnknownDropped, s.UnknownKept)
	fmt.Fprintf(&b, "  linearizability: %d operations checked by porcupine in %v; %d revisions of history; %d acknowledged writes found; %d serializable reads checked\n",
		s.LinearizabilityOps, s.linTime.Round(time.Millisecond), s.Revisions, s.AckedWritesChecked, s.SerializableReadsChecked)
	fmt.Fprintf(&b, "  watch: %d watchers, %d resumes, %d responses, %d events checked, %d progress notifications checked\n",
		s.Watchers, s.WatchResumes, s.WatchResponses, s.WatchEventsChecked, s.ProgressChecked)
	fmt.Fprintf(&b, "  HashKV compared on all members %d times\n", s.HashKVChecks)
	fmt.Fprintf(&b, "  faults:")
	total := 0
	for _, k := range slices.Sorted(maps.Keys(s.Faults)) {
		fmt.Fprintf(&b, " %s %d;", k, s.Faults[k])
		total += s.Faults[k]
	}
	fmt.Fprintf(&b, " total %d\n", total)
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	fmt.Fprintf(&b, "  violations: %d\n", len(s.Violations))
	for i, v := range s.Violations {
		if i == 20 {
			fmt.Fprintf(&b, "    ... %d more in summary.json\n", len(s.Violations)-i)
			break
		}
		fmt.Fprintf(&b, "    %s\n", v)
	}
	fmt.Fprintf(&b, "  reproduce: %s", s.Reproduce)
	return b.String()
}

func (s *Summary) write(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644)
}
