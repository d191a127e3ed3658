package apply

import (
	"encoding/json"

	"github.com/cairndb/cairn/internal/membership"
)

func decodeMember(ctx []byte) (membership.Member, error) {
	var m membership.Member
	err := json.Unmarshal(ctx, &m)
	return m, err
}

// decodeReqID reads the request ID a conf change context carries, if any.
func decodeReqID(ctx []byte) uint64 {
	var c struct {
		ReqID uint64 `json:"reqID"`
	}
	if json.Unmarshal(ctx, &c) != nil {
		return 0
	}
	return c.ReqID
}
