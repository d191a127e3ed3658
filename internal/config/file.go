package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// loadFile reads a YAML config file with etcd's keys (etcd reads it with
// sigs.k8s.io/yaml, so the keys are its JSON tags, matched without regard
// to case). Durations are integer nanoseconds, heartbeat-interval and
// election-timeout integer milliseconds, URL lists comma-separated strings.
// Unlike etcd, an unknown key or a value of the wrong type is an error.
func (st *parseState) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return newErr(ErrFile, "cannot read config file: "+err.Error())
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return newErr(ErrFile, fmt.Sprintf("config file %s: %s", path, yamlErrText(err)))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file: all defaults
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil
	}
	f := fileParser{st: st, path: path}
	if root.Kind != yaml.MappingNode {
		return f.errf(root, "the document must be a mapping of keys to values, not %s", describe(root))
	}
	return f.mapping(root, "", func(key string, k, v *yaml.Node) error {
		o := yamlIndex[strings.ToLower(key)]
		if o == nil {
			for _, to := range tlsKeys {
				if to.name == key {
					return f.errf(k, "unknown key %q (in a config file it belongs under client-transport-security or peer-transport-security)", key)
				}
			}
			if fo := flagIndex[key]; fo != nil && !fo.noFlag {
				return f.errf(k, "unknown key %q (--%s is a command-line flag only; etcd's config file has no such key)", key, key)
			}
			return f.errf(k, "unknown key %q", key)
		}
		return f.option(o, k, v)
	})
}

type fileParser struct {
	st   *parseState
	path string
}

func (f *fileParser) errf(n *yaml.Node, format string, args ...any) error {
	return newErr(ErrFile, fmt.Sprintf("config file %s: line %d: ", f.path, n.Line)+fmt.Sprintf(format, args...))
}

// mapping walks a mapping node, rejecting repeated keys.
func (f *fileParser) mapping(m *yaml.Node, prefix string, each func(key string, k, v *yaml.Node) error) error {
	first := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return f.errf(k, "a key must be a plain string, not %s", describe(k))
		}
		key := k.Value
		if line, dup := first[strings.ToLower(key)]; dup {
			return f.errf(k, "key %q is repeated (first at line %d)", prefix+key, line)
		}
		first[strings.ToLower(key)] = k.Line
		if err := each(key, k, v); err != nil {
			return err
		}
	}
	return nil
}

func isNull(v *yaml.Node) bool {
	return v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null"
}

// option decodes the value of one top-level key.
func (f *fileParser) option(o *option, k, v *yaml.Node) error {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if isNull(v) { // "key:" with no value leaves the default, as in etcd
		return nil
	}
	name := k.Value
	switch o.kind {
	case kindTLS:
		if v.Kind != yaml.MappingNode {
			return f.errf(v, "%s: expected a mapping of TLS settings, got %s", name, describe(v))
		}
		t := o.field(f.st.cfg).(*TLSInfo)
		if err := f.tls(name, v, t); err != nil {
			return err
		}
		f.st.mark(o, fromFile, "")
		return nil
	case kindMap:
		if v.Kind != yaml.MappingNode {
			return f.errf(v, "%s: expected a mapping, got %s", name, describe(v))
		}
		f.st.mark(o, fromFile, "(mapping)")
		return nil
	case kindList, kindUniqueList:
		if !o.yamlComma {
			list, err := f.stringList(name, v, false)
			if err != nil {
				return err
			}
			if err := setList(f.st.cfg, o, list); err != nil {
				return f.errf(v, "%s: %v", name, err)
			}
			f.st.mark(o, fromFile, strings.Join(list, ","))
			return nil
		}
	}
	text, err := f.scalarText(o, name, v)
	if err != nil {
		return err
	}
	if (o.kind == kindURLs || o.kind == kindCORS) && text == "" {
		return nil // etcd ignores an empty URL list in the file
	}
	if err := setText(f.st.cfg, o, text); err != nil {
		return f.errf(v, "%s: %v", name, err)
	}
	f.st.mark(o, fromFile, text)
	return nil
}

// tls decodes a client-/peer-transport-security block.
func (f *fileParser) tls(block string, m *yaml.Node, t *TLSInfo) error {
	return f.mapping(m, block+".", func(key string, k, v *yaml.Node) error {
		var o *option
		for _, to := range tlsKeys {
			if strings.EqualFold(to.name, key) {
				o = to
			}
		}
		if o == nil {
			return f.errf(k, "unknown key %q", block+"."+key)
		}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if isNull(v) {
			return nil
		}
		name := block + "." + key
		field := tlsField(t, o.name)
		if o.kind == kindList {
			// etcd 3.6 takes a list; 3.5 took a single string. Accept both.
			list, err := f.stringList(name, v, true)
			if err != nil {
				return err
			}
			*field.(*string) = strings.Join(list, ",")
			return nil
		}
		text, err := f.scalarText(o, name, v)
		if err != nil {
			return err
		}
		switch p := field.(type) {
		case *string:
			*p = text
		case *bool:
			b, err := parseBool(text)
			if err != nil {
				return f.errf(v, "%s: %v", name, err)
			}
			*p = b
		}
		return nil
	})
}

// stringList decodes a sequence of scalars (or, if scalarOK, one scalar).
func (f *fileParser) stringList(name string, v *yaml.Node, scalarOK bool) ([]string, error) {
	if scalarOK && v.Kind == yaml.ScalarNode {
		return splitComma(v.Value), nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, f.errf(v, "%s: expected a list of strings, got %s", name, describe(v))
	}
	list := make([]string, 0, len(v.Content))
	for _, item := range v.Content {
		if item.Kind == yaml.AliasNode {
			item = item.Alias
		}
		if item.Kind != yaml.ScalarNode || isNull(item) {
			return nil, f.errf(item, "%s: expected a list of strings, but an item is %s", name, describe(item))
		}
		list = append(list, item.Value)
	}
	return list, nil
}

// scalarText checks a scalar's YAML type against the option's kind, the way
// etcd's decoder would accept it, and returns its text for setText.
func (f *fileParser) scalarText(o *option, name string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", f.errf(v, "%s: expected %s, got %s", name, want(o.kind), describe(v))
	}
	tag := v.ShortTag()
	switch o.kind {
	case kindBool:
		if tag == "!!bool" {
			return strings.ToLower(v.Value), nil
		}
		// YAML 1.1 spellings, which etcd's YAML library reads as booleans.
		switch v.Value {
		case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
			return "true", nil
		case "n", "N", "no", "No", "NO", "off", "Off", "OFF":
			return "false", nil
		}
	case kindUint, kindUint32, kindUint64, kindInt, kindInt64:
		if tag == "!!int" {
			return v.Value, nil
		}
	case kindDuration:
		if tag == "!!int" {
			n, err := strconv.ParseInt(v.Value, 0, 64)
			if err != nil {
				return "", f.errf(v, "%s: value out of range", name)
			}
			return strconv.FormatInt(n, 10) + "ns", nil
		}
		if tag == "!!str" {
			return "", f.errf(v, "%s: expected an integer number of nanoseconds (durations in etcd config files are nanoseconds, e.g. 10000000000 for 10s), got string %q", name, v.Value)
		}
	default: // strings take any scalar, as in etcd
		return v.Value, nil
	}
	return "", f.errf(v, "%s: expected %s, got %s", name, want(o.kind), describe(v))
}

func want(k kind) string {
	switch k {
	case kindBool:
		return "true or false"
	case kindUint, kindUint32, kindUint64:
		return "an unsigned integer"
	case kindInt, kindInt64:
		return "an integer"
	case kindDuration:
		return "an integer number of nanoseconds"
	case kindList, kindUniqueList:
		return "a list of strings"
	}
	return "a string"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unsupported YAML node"
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErrText turns a YAML syntax error into "line N: reason".
func yamlErrText(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		line, msg := m[1], s[len(m[0]):]
		// For these errors yaml.v3 reports the line before the one at
		// fault (it counts from the context mark, 0-based).
		if strings.Contains(msg, "did not find expected ',' or ']'") || strings.Contains(msg, "found a tab character") {
			if n, err := strconv.Atoi(line); err == nil {
				line = strconv.Itoa(n + 1)
			}
		}
		return "line " + line + ": " + msg
	}
	return "invalid YAML: " + strings.TrimPrefix(s, "yaml: ")
}
