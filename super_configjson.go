//go:build linux

package main

// Strict keys for the -config file. encoding/json takes the last of two
// equal keys ({"routes": [...], "routes": [...]} runs the second list
// only) and matches a key to a field in any case ({"ROUTES": ...} is
// "routes"), even with DisallowUnknownFields. Both hide slips, so before
// the decoder runs, checkJSONKeys walks the file's tokens along the Go
// type it decodes into and refuses, at any depth, a key given twice in one
// object, a key that is a field's name in another case, and (with a line
// number, which the decoder's own error lacks) an unknown key.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// keyError is a key the file must not hold.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

// checkJSONKeys checks every object key in the first JSON value of b
// against t, the type it decodes into. Only key errors are returned:
// anything else (bad syntax, wrong types) is left to the decoder, whose
// messages for those are better.
func checkJSONKeys(b []byte, t reflect.Type) error {
	k := keyWalker{dec: json.NewDecoder(bytes.NewReader(b)), b: b, line: 1, fields: map[reflect.Type]map[string]reflect.Type{}}
	var ke *keyError
	if err := k.value(t); errors.As(err, &ke) {
		return ke
	}
	return nil
}

// keyWalker walks a JSON document's tokens.
type keyWalker struct {
	dec *json.Decoder
	b   []byte
	// off and line: the line of byte off, counted on from the last key,
	// so that placing every key costs one pass over the file in all.
	off  int64
	line int
	// path is where the walk is (keys of known fields, array indices),
	// rendered only for an error.
	path []pathStep
	// fields caches jsonFields per struct type.
	fields map[reflect.Type]map[string]reflect.Type
}

// pathStep is one step into a document: a key, or an index when key is "".
type pathStep struct {
	key   string
	index int
}

// where renders the current place for an error: "line 7: routes[1]: ".
func (k *keyWalker) where(line int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d: ", line)
	for i, st := range k.path {
		switch {
		case st.key == "":
			fmt.Fprintf(&b, "[%d]", st.index)
		case i > 0:
			b.WriteString("." + st.key)
		default:
			b.WriteString(st.key)
		}
	}
	if len(k.path) > 0 {
		b.WriteString(": ")
	}
	return b.String()
}

// lineAt is the 1-based line of byte off, which never goes backwards.
func (k *keyWalker) lineAt(off int64) int {
	off = min(off, int64(len(k.b)))
	k.line += bytes.Count(k.b[k.off:off], []byte("\n"))
	k.off = off
	return k.line
}

// jsonUnmarshaler is the interface of types that decode themselves (such
// as stringList): their fields are not known from their Go type.
var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// schema is the type a value decodes into with pointers taken off, or nil
// when the keys of its objects are not known (a custom unmarshaler, a
// type that does not fit: the decoder will say so).
func schema(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil
	}
	return t
}

// maxKeyDepth bounds the walk. The file's types nest four deep; what is
// deeper is a type error the decoder reports, and Decoder.Token, unlike
// Decode, has no depth limit of its own for the walk to lean on.
const maxKeyDepth = 16

// errTooDeep ends a walk that went past maxKeyDepth.
var errTooDeep = errors.New("nested too deep")

// value walks one value of type t (nil: keys unknown).
func (k *keyWalker) value(t reflect.Type) error {
	if len(k.path) > maxKeyDepth {
		return errTooDeep
	}
	tok, err := k.dec.Token()
	if err != nil {
		return err
	}
	t = schema(t)
	switch tok {
	case json.Delim('{'):
		// Objects and arrays both push a step onto k.path, which is how
		// value knows the depth.
		if t != nil && t.Kind() != reflect.Struct {
			t = nil
		}
		return k.object(t)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		k.path = append(k.path, pathStep{})
		for i := 0; k.dec.More(); i++ {
			k.path[len(k.path)-1].index = i
			if err := k.value(elem); err != nil {
				return err
			}
		}
		k.path = k.path[:len(k.path)-1]
		_, err := k.dec.Token() // ]
		return err
	}
	return nil
}

// object walks the members of an object whose '{' was read; st is the
// struct it decodes into, or nil.
func (k *keyWalker) object(st reflect.Type) error {
	var fields map[string]reflect.Type
	if st != nil {
		if fields = k.fields[st]; fields == nil {
			fields = jsonFields(st)
			k.fields[st] = fields
		}
	}
	seen := map[string]int{} // key -> line of its first occurrence
	for k.dec.More() {
		tok, err := k.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // the decoder only yields strings here
		line := k.lineAt(k.dec.InputOffset())
		if first, ok := seen[key]; ok {
			return &keyError{fmt.Sprintf("%s%q given twice (first on line %d): JSON would silently keep only the last", k.where(line), clipped(key), first)}
		}
		seen[key] = line
		var ft reflect.Type
		if fields != nil {
			f, ok := fields[key]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return &keyError{fmt.Sprintf("%sunknown field %q: field names are case-sensitive, want %q", k.where(line), clipped(key), name)}
					}
				}
				return &keyError{fmt.Sprintf("%sunknown field %q", k.where(line), clipped(key))}
			}
			ft = f
		}
		// Only keys of known fields go into the path, so it never
		// echoes an arbitrary key of the input.
		step := pathStep{key: "{}"}
		if ft != nil {
			step.key = key
		}
		k.path = append(k.path, step)
		if err := k.value(ft); err != nil {
			return err
		}
		k.path = k.path[:len(k.path)-1]
	}
	_, err := k.dec.Token() // }
	return err
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(st reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}
