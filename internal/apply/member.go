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
