package ctl

import (
	"fmt"
	"math"
)

// Bytes formats a byte count in SI units the way etcdctl's tables do
// (go-humanize's Bytes): "0 B", "999 B", "3.0 kB", "25 kB", "2.1 GB". One
// decimal below 10 of a unit, none above.
func Bytes(n uint64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	sizes := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	suffix := sizes[int(e)]
	val := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	if val < 10 {
		return fmt.Sprintf("%.1f %s", val, suffix)
	}
	return fmt.Sprintf("%.0f %s", val, suffix)
}
