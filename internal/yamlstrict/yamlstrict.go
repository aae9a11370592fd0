// Package yamlstrict decodes YAML the way advmatrix's files need: every key
// known, every value of its type, and errors that name the file, the line
// and the key, for scenario files and gate policies alike.
package yamlstrict

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FileError is a problem in a YAML file (a scenario or a gate policy): the
// file, the line and what is wrong there.
type FileError struct {
	File string
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Decode decodes one YAML document strictly into out (a pointer to a
// struct whose fields carry `yaml:"name"` tags): an unknown key, a value of
// the wrong type or a second document is a *FileError naming the file, the
// line and the key. A struct field `Line int` (tagged `yaml:"-"`) receives
// the line its mapping starts on, so later checks (references, ranges) can
// point at it too.
func Decode(file string, data []byte, out any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := yamlErrLine(err)
		msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		return &FileError{File: file, Line: line, Msg: msg}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &FileError{File: file, Msg: "empty file"}
	}
	d := &Decoder{file: file}
	return d.Decode(doc.Content[0], reflect.ValueOf(out).Elem(), "")
}

// Decoder decodes nodes for types that read themselves (Unmarshaler).
type Decoder struct{ file string }

// Fail is an error at n's line.
func (d *Decoder) Fail(n *yaml.Node, format string, args ...any) error {
	return &FileError{File: d.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

// where names a position for messages: the key path, or "the top level".
func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// Decode decodes n into v, path naming the position for messages.
func (d *Decoder) Decode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && v.Kind() != reflect.Interface {
		v.Set(reflect.Zero(v.Type()))
		return nil
	}
	// A type that reads itself (a value that may be a scalar or a mapping).
	if u, ok := v.Addr().Interface().(Unmarshaler); ok {
		return u.UnmarshalStrict(d, n, path)
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.DecodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.Fail(n, "%s must be a list", where(path))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := d.Decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.Fail(n, "%s must be a mapping of names to values", where(path))
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return d.Fail(k, "%s: keys must be plain names", where(path))
			}
			kv := reflect.New(v.Type().Key()).Elem()
			kv.SetString(k.Value)
			if m.MapIndex(kv).IsValid() {
				return d.Fail(k, "%s: %q is given twice", where(path), k.Value)
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.Decode(val, ev, path+"."+k.Value); err != nil {
				return err
			}
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
		return nil
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := d.Decode(n, p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	return d.scalar(n, v, path)
}

// DecodeStruct decodes a mapping into the struct v strictly.
func (d *Decoder) DecodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.Fail(n, "%s must be a mapping (key: value lines)", where(path))
	}
	t := v.Type()
	fields := map[string]int{}
	var known []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			if t.Field(i).Name == "Line" {
				v.Field(i).SetInt(int64(n.Line))
			}
			continue
		}
		fields[tag] = i
		known = append(known, tag)
	}
	sort.Strings(known)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			return d.Fail(k, "unknown key %q in %s (known: %s)", k.Value, where(path), strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return d.Fail(k, "key %q is given twice in %s", k.Value, where(path))
		}
		seen[k.Value] = true
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if err := d.Decode(val, v.Field(idx), p); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) scalar(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.ScalarNode {
		return d.Fail(n, "%s must be a single value, not a %s", where(path), kindName(n.Kind))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			return d.Fail(n, "%s: %q is not true or false", where(path), n.Value)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || n.Tag != "!!int" {
			return d.Fail(n, "%s: %q is not a whole number", where(path), n.Value)
		}
		v.SetInt(i)
	case reflect.Uint64:
		u, err := strconv.ParseUint(n.Value, 10, 64)
		if err != nil || n.Tag != "!!int" {
			return d.Fail(n, "%s: %q is not a whole number ≥ 0", where(path), n.Value)
		}
		v.SetUint(u)
	case reflect.Float64:
		if n.Tag != "!!float" && n.Tag != "!!int" {
			return d.Fail(n, "%s: %q is not a number", where(path), n.Value)
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return d.Fail(n, "%s: %q is not a finite number", where(path), n.Value)
		}
		v.SetFloat(f)
	default:
		return d.Fail(n, "%s: unsupported value", where(path))
	}
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	}
	return "value"
}

// Unmarshaler is a type that decodes itself from a YAML node (a value that
// may be a scalar or a mapping).
type Unmarshaler interface {
	UnmarshalStrict(d *Decoder, n *yaml.Node, path string) error
}

// Where names a position for messages: the key path, or "the top level".
func Where(path string) string { return where(path) }

// yamlErrLine digs the line number out of a yaml.v3 syntax error.
func yamlErrLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		j := i + 5
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if l, e := strconv.Atoi(s[i+5 : j]); e == nil {
			return l
		}
	}
	return 0
}
