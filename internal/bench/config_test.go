package bench

import (
	"errors"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"duration only", func(c *Config) { c.Total, c.Duration = 0, time.Second }, true},
		{"neither total nor duration", func(c *Config) { c.Total, c.Duration = 0, 0 }, false},
		{"no endpoints", func(c *Config) { c.Endpoints = nil }, false},
		{"zero conns", func(c *Config) { c.Conns = 0 }, false},
		{"zero clients", func(c *Config) { c.Clients = 0 }, false},
		{"zero key size", func(c *Config) { c.KeySize = 0 }, false},
		{"negative value size", func(c *Config) { c.ValSize = -1 }, false},
		{"empty values", func(c *Config) { c.ValSize = 0 }, true},
		{"zero key space", func(c *Config) { c.KeySpace = 0 }, false},
		{"key space fills the key size", func(c *Config) { c.KeySize, c.KeySpace = 2, 100 }, true},
		{"key space too large for key size", func(c *Config) { c.KeySize, c.KeySpace = 2, 101 }, false},
		{"negative rate", func(c *Config) { c.Rate = -1 }, false},
		{"serializable", func(c *Config) { c.Consistency = Serializable }, true},
		{"bad consistency", func(c *Config) { c.Consistency = "x" }, false},
		{"zero watchers", func(c *Config) { c.Watchers = 0 }, false},
		{"zero request timeout", func(c *Config) { c.RequestTimeout = 0 }, false},
		{"no exact samples", func(c *Config) { c.MaxExactSamples = 0 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
