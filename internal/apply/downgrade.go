package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/membershippb"
)

// keyDowngrade holds the cluster's downgrade job as JSON; it is absent
// when no job was ever enabled or the last one was cancelled.
var keyDowngrade = []byte("m/downgrade")

// DowngradeInfo is the replicated state of a downgrade job, as etcd keeps
// it: the target version ("3.5.0") and whether the job is enabled. A
// cancelled job is the zero value.
type DowngradeInfo struct {
	TargetVersion string `json:"target-version"`
	Enabled       bool   `json:"enabled"`
}

// Downgrade is the replicated downgrade job. Changes come from apply;
// reads from anywhere.
type Downgrade struct {
	mu   sync.RWMutex
	info DowngradeInfo
}

// LoadDowngrade reads the downgrade job.
func LoadDowngrade(db pebble.Reader) (*Downgrade, error) {
	d := &Downgrade{}
	return d, d.Reload(db)
}

// Reload rereads the downgrade job (after a snapshot install).
func (d *Downgrade) Reload(db pebble.Reader) error {
	var info DowngradeInfo
	v, closer, err := db.Get(keyDowngrade)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("apply: read downgrade job: %w", err)
	default:
		err = json.Unmarshal(v, &info)
		closer.Close()
		if err != nil {
			return fmt.Errorf("apply: downgrade job record is damaged: %w", err)
		}
	}
	d.mu.Lock()
	d.info = info
	d.mu.Unlock()
	return nil
}

// Info returns the current downgrade job.
func (d *Downgrade) Info() DowngradeInfo {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.info
}

// apply enables (with its target version) or cancels the job in b. Like
// etcd it stores what the proposer validated, without checking again.
func (d *Downgrade) apply(b *pebble.Batch, r *membershippb.DowngradeInfoSetRequest) {
	var info DowngradeInfo
	if r.Enabled {
		info = DowngradeInfo{TargetVersion: r.Ver, Enabled: true}
		v, err := json.Marshal(info)
		if err != nil {
			panic(fmt.Sprintf("apply: encode downgrade job: %v", err))
		}
		if err := b.Set(keyDowngrade, v, nil); err != nil {
			panic(fmt.Sprintf("apply: write downgrade job: %v", err))
		}
	} else if err := b.Delete(keyDowngrade, nil); err != nil {
		panic(fmt.Sprintf("apply: delete downgrade job: %v", err))
	}
	d.mu.Lock()
	d.info = info
	d.mu.Unlock()
}
