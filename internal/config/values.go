package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file turns option text (from a flag, an environment variable or a
// config-file scalar) into typed values. Errors returned here are reasons
// without the option's name; callers add where the value came from.

func quote(s string) string { return strconv.Quote(s) }

func parseInt(s string, bits int) (int64, error) {
	v, err := strconv.ParseInt(s, 0, bits)
	if err != nil {
		return 0, numErr(err, "an integer")
	}
	return v, nil
}

func parseUint(s string, bits int) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, bits)
	if err != nil {
		if strings.HasPrefix(s, "-") {
			if _, ierr := strconv.ParseInt(s, 0, 64); ierr == nil {
				return 0, errors.New("must not be negative")
			}
		}
		return 0, numErr(err, "an unsigned integer")
	}
	return v, nil
}

func numErr(err error, what string) error {
	if errors.Is(err, strconv.ErrRange) {
		return errors.New("value out of range")
	}
	return errors.New("not " + what)
}

func parseBool(s string) (bool, error) {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, errors.New("not a boolean (want true or false)")
	}
	return v, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration (examples: 500ms, 10s, 2h45m)")
	}
	return d, nil
}

// parseURLList parses URLs as etcd does (client/pkg types.NewURLs): each is
// trimmed; http and https need host:port and no path; unix and unixs take
// anything. The result is sorted by string form, duplicates dropped.
func parseURLList(list []string) (URLs, error) {
	if len(list) == 0 {
		return nil, errors.New("no URLs given")
	}
	seen := map[string]bool{}
	var out URLs
	for _, in := range list {
		in = strings.TrimSpace(in)
		u, err := url.Parse(in)
		if err != nil {
			return nil, err
		}
		if err := checkURL(u, in); err != nil {
			return nil, err
		}
		if s := u.String(); !seen[s] {
			seen[s] = true
			out = append(out, *u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

func checkURL(u *url.URL, in string) error {
	switch u.Scheme {
	case "http", "https":
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return fmt.Errorf("URL address does not have the form \"host:port\": %s", in)
		}
		if u.Path != "" {
			return fmt.Errorf("URL must not contain a path: %s", in)
		}
	case "unix", "unixs":
	default:
		return fmt.Errorf("URL scheme must be http, https, unix, or unixs: %s", in)
	}
	return nil
}

func splitComma(s string) []string { return strings.Split(s, ",") }

func uniqueSorted(list []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// setText parses text for option o and, when o has a Config field, stores
// it there. Unused options are parsed too, so a bad value is reported even
// for an option Cairn ignores.
func setText(c *Config, o *option, text string) error {
	var target any
	if o.field != nil {
		target = o.field(c)
	}
	switch o.kind {
	case kindString:
		if p, ok := target.(*string); ok {
			*p = text
		}
	case kindChoice:
		valid := false
		for _, ch := range o.choices {
			valid = valid || ch == text
		}
		if !valid {
			return fmt.Errorf("must be one of %s", quoteList(o.choices))
		}
		if p, ok := target.(*string); ok {
			*p = text
		}
	case kindBool, kindLegacy:
		v, err := parseBool(text)
		if err != nil {
			return err
		}
		if p, ok := target.(*bool); ok {
			*p = v
		}
	case kindUint, kindUint32, kindUint64:
		bits := map[kind]int{kindUint: strconv.IntSize, kindUint32: 32, kindUint64: 64}[o.kind]
		v, err := parseUint(text, bits)
		if err != nil {
			return err
		}
		switch p := target.(type) {
		case *uint:
			*p = uint(v)
		case *uint32:
			*p = uint32(v)
		case *uint64:
			*p = v
		}
	case kindInt, kindInt64:
		bits := strconv.IntSize
		if o.kind == kindInt64 {
			bits = 64
		}
		v, err := parseInt(text, bits)
		if err != nil {
			return err
		}
		switch p := target.(type) {
		case *int:
			*p = int(v)
		case *int64:
			*p = v
		}
	case kindDuration:
		d, err := parseDuration(text)
		if err != nil {
			return err
		}
		if p, ok := target.(*time.Duration); ok {
			*p = d
		}
	case kindURLs:
		us, err := parseURLList(splitComma(text))
		if err != nil {
			return err
		}
		if p, ok := target.(*URLs); ok {
			*p = us
		}
	case kindCORS:
		list := []string{"*"}
		if text != "*" {
			us, err := parseURLList(splitComma(text))
			if err != nil {
				return err
			}
			list = urlStrings(us)
		}
		if p, ok := target.(*[]string); ok {
			*p = list
		}
	case kindList, kindUniqueList:
		return setList(c, o, splitComma(text))
	default:
		return fmt.Errorf("option --%s takes no value", o.name)
	}
	return nil
}

// setList stores a list value (comma-split flag text or a YAML sequence).
func setList(c *Config, o *option, list []string) error {
	if o.kind == kindUniqueList {
		list = uniqueSorted(list)
	}
	if o.field == nil {
		return nil
	}
	switch p := o.field(c).(type) {
	case *[]string:
		*p = append([]string(nil), list...)
	case *string:
		*p = strings.Join(list, ",")
	}
	return nil
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

// isTLSVersion reports whether v names a TLS version etcd accepts.
func isTLSVersion(v string) bool { return v == "" || v == "TLS1.2" || v == "TLS1.3" }
