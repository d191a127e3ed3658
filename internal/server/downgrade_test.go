package server

import "testing"

// Targets are read as etcd reads them: a semantic version, or major.minor
// taken as major.minor.0; only major and minor are kept.
func TestParseDowngradeTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want majorMinor
		ok   bool
	}{
		{"3.5", majorMinor{3, 5}, true},
		{"3.5.0", majorMinor{3, 5}, true},
		{"3.5.21", majorMinor{3, 5}, true},
		{"3.5.0-rc.1", majorMinor{3, 5}, true},
		{"3.5.0+build.7", majorMinor{3, 5}, true},
		{"3.5.0-rc.1+build.7", majorMinor{3, 5}, true},
		{"03.05", majorMinor{3, 5}, true},
		{"4.0", majorMinor{4, 0}, true},
		{"", majorMinor{}, false},
		{"3", majorMinor{}, false},
		{"x", majorMinor{}, false},
		{"v3.5", majorMinor{}, false},
		{"3.5.x", majorMinor{}, false},
		{"3.5.0.1", majorMinor{}, false},
		{"3.5-rc", majorMinor{}, false},
		{"3..5", majorMinor{}, false},
		{"3.5.0-rc!", majorMinor{}, false},
		{"3.5.0-rc..1", majorMinor{}, false},
		{" 3.5", majorMinor{}, false},
	} {
		got, ok := parseDowngradeTarget(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseDowngradeTarget(%q) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if got := clusterMinor(); got != "3.6" {
		t.Errorf("clusterMinor() = %q, want 3.6", got)
	}
	if got := (majorMinor{3, 5}).String(); got != "3.5.0" {
		t.Errorf("target string %q, want 3.5.0", got)
	}
}
