package robustness

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// Recording is what a round recorded: enough to run its checks again
// offline (see TestReplay), without the cluster.
type Recording struct {
	From        int64        `json:"from"`
	Init        []KeyValue   `json:"init"`
	Leases      []int64      `json:"leases"`
	LeasesAtEnd []int64      `json:"leases_at_end"`
	States      [][]KeyValue `json:"states"` // the key set at revisions From, From+1, ...
	Ops         []Op         `json:"ops"`    // as recorded, before patching
}

// Save writes the recording as JSON.
func (rec Recording) Save(path string) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// LoadRecording reads a recording.
func LoadRecording(path string) (Recording, error) {
	var rec Recording
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

// Check runs the checks that need no cluster: history patching,
// acknowledged writes, serializable reads and linearizability. It writes
// the porcupine visualisation to viz if the history is not linearizable.
func (rec Recording) Check(viz string) ([]string, error) {
	h, err := NewStoreHistory(rec.From, rec.States)
	if err != nil {
		return nil, err
	}
	end := map[int64]bool{}
	for _, l := range rec.LeasesAtEnd {
		end[l] = true
	}
	sum := &Summary{}
	lin, serial, _ := PatchHistory(sortedOps(rec.Ops), h, end)
	v := checkAcknowledged(lin, h, sum)
	v = append(v, checkSerializable(serial, h, sum)...)
	model := NewModel(NewState(rec.From, rec.Init, rec.Leases))
	res, info := porcupine.CheckOperationsVerbose(model, porcupineOps(lin), 5*time.Minute)
	if res != porcupine.Ok {
		v = append(v, fmt.Sprintf("%d operations: porcupine says %v", len(lin), res))
		if viz != "" {
			if err := porcupine.VisualizePath(model, info, viz); err != nil {
				return v, err
			}
		}
	}
	return v, nil
}
