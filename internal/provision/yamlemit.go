package provision

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// blockYAML writes doc, one compact JSON object as encoding/json writes it
// (no spaces between tokens), to out as block-style YAML that decodes to
// the same value. It is how the render check passes on what it checked:
// the same bytes re-encoded by a YAML library cost more than the check.
//
// Each string is written plain only when no YAML reader could take it for
// anything but that string (a letter, then letters, digits, '_', '.', '/'
// or '-', and no word that YAML 1.1 reads as a boolean or null);
// otherwise it is written as its JSON string, which is a YAML
// double-quoted scalar, with the few characters YAML does not allow raw
// (DEL, the C1 controls, NEL, BOM, U+FFFE/U+FFFF) escaped. Numbers, true,
// false and null are written as they are. doc must be valid compact JSON;
// anything else is an error.
func blockYAML(out *bytes.Buffer, doc []byte) error {
	w := yamlWriter{out: out, in: doc}
	switch {
	case bytes.Equal(doc, []byte("{}")):
		out.WriteString("{}\n")
	case len(doc) > 0 && doc[0] == '{':
		if err := w.block(0, false); err != nil {
			return err
		}
	default:
		return fmt.Errorf("not a JSON object")
	}
	if w.pos != len(doc) {
		return fmt.Errorf("JSON has %d bytes after its object", len(doc)-w.pos)
	}
	return nil
}

type yamlWriter struct {
	out *bytes.Buffer
	in  []byte
	pos int
}

// maxYAMLKey: YAML readers take at most 1024 characters for an implicit
// key; a longer one (no Kubernetes object has one) is refused, not
// written differently.
const maxYAMLKey = 1000

func (w *yamlWriter) peek() byte {
	if w.pos < len(w.in) {
		return w.in[w.pos]
	}
	return 0
}

func (w *yamlWriter) expect(c byte) error {
	if w.peek() != c {
		return fmt.Errorf("JSON: expected %q at byte %d", c, w.pos)
	}
	w.pos++
	return nil
}

func (w *yamlWriter) pad(n int) {
	for range n {
		w.out.WriteByte(' ')
	}
}

// empty says whether a collection starts here and is empty; it consumes it.
func (w *yamlWriter) empty() (string, bool) {
	if w.pos+1 < len(w.in) {
		switch string(w.in[w.pos : w.pos+2]) {
		case "{}", "[]":
			s := string(w.in[w.pos : w.pos+2])
			w.pos += 2
			return s, true
		}
	}
	return "", false
}

// block writes the non-empty object or array at pos, each entry on its
// own line indented by indent; inline: the first entry continues the
// current line (after a list's "- ").
func (w *yamlWriter) block(indent int, inline bool) error {
	switch open := w.peek(); open {
	case '{':
		w.pos++
		for first := true; ; first = false {
			if !first || !inline {
				w.pad(indent)
			}
			if w.peek() != '"' {
				return fmt.Errorf("JSON: expected a key at byte %d", w.pos)
			}
			raw, err := w.stringToken()
			if err != nil {
				return err
			}
			if len(raw) > maxYAMLKey {
				return fmt.Errorf("a key of %d bytes is longer than YAML allows", len(raw))
			}
			w.scalarString(raw)
			w.out.WriteByte(':')
			if err := w.expect(':'); err != nil {
				return err
			}
			if err := w.member(indent); err != nil {
				return err
			}
			if w.peek() == ',' {
				w.pos++
				continue
			}
			return w.expect('}')
		}
	case '[':
		w.pos++
		for first := true; ; first = false {
			if !first || !inline {
				w.pad(indent)
			}
			w.out.WriteByte('-')
			if err := w.item(indent + 2); err != nil {
				return err
			}
			if w.peek() == ',' {
				w.pos++
				continue
			}
			return w.expect(']')
		}
	}
	return fmt.Errorf("JSON: expected an object or array at byte %d", w.pos)
}

// member writes a mapping's value after its "key:".
func (w *yamlWriter) member(indent int) error {
	if s, ok := w.empty(); ok {
		w.out.WriteString(" " + s + "\n")
		return nil
	}
	switch w.peek() {
	case '{':
		w.out.WriteByte('\n')
		return w.block(indent+2, false)
	case '[':
		w.out.WriteByte('\n')
		return w.block(indent, false)
	}
	w.out.WriteByte(' ')
	return w.scalar()
}

// item writes a list item after its "-"; indent is its contents'.
func (w *yamlWriter) item(indent int) error {
	if s, ok := w.empty(); ok {
		w.out.WriteString(" " + s + "\n")
		return nil
	}
	w.out.WriteByte(' ')
	switch w.peek() {
	case '{', '[':
		return w.block(indent, true)
	}
	return w.scalar()
}

// scalar writes the string, number, boolean or null at pos and ends the
// line.
func (w *yamlWriter) scalar() error {
	start := w.pos
	switch c := w.peek(); {
	case c == '"':
		raw, err := w.stringToken()
		if err != nil {
			return err
		}
		w.scalarString(raw)
	case c == '-' || c >= '0' && c <= '9':
		for w.pos < len(w.in) && strings.IndexByte("+-.0123456789eE", w.in[w.pos]) >= 0 {
			w.pos++
		}
		w.out.Write(w.in[start:w.pos])
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(w.in[w.pos:], []byte(lit)) {
				w.pos += len(lit)
				w.out.WriteString(lit)
				w.out.WriteByte('\n')
				return nil
			}
		}
		return fmt.Errorf("JSON: expected a value at byte %d", w.pos)
	}
	w.out.WriteByte('\n')
	return nil
}

// stringToken returns the JSON string at pos, quotes included.
func (w *yamlWriter) stringToken() ([]byte, error) {
	start := w.pos
	for i := w.pos + 1; i < len(w.in); i++ {
		switch w.in[i] {
		case '\\':
			i++
		case '"':
			w.pos = i + 1
			return w.in[start:w.pos], nil
		}
	}
	return nil, fmt.Errorf("JSON: unterminated string at byte %d", start)
}

// scalarString writes a JSON string token (quotes included) as a YAML
// scalar: plain when that is unambiguous, else double-quoted.
func (w *yamlWriter) scalarString(raw []byte) {
	s := raw[1 : len(raw)-1]
	if plainSafe(s) {
		w.out.Write(s)
		return
	}
	ascii := true
	for _, c := range raw {
		if c >= 0x7f {
			ascii = false
			break
		}
	}
	if ascii {
		w.out.Write(raw)
		return
	}
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		if yamlNeedsEscape(r) {
			fmt.Fprintf(w.out, `\u%04X`, r)
		} else {
			w.out.Write(raw[i : i+n])
		}
		i += n
	}
}

// plainSafe: s (a JSON string's contents) reads back as exactly this
// string when written plain, in YAML 1.1 and 1.2 alike.
func plainSafe(s []byte) bool {
	if len(s) == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '/' || c == '-') {
			return false
		}
	}
	if len(s) > 5 {
		return true
	}
	switch strings.ToLower(string(s)) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// yamlNeedsEscape: characters JSON leaves raw that a YAML double-quoted
// scalar may not hold raw (not printable in YAML, or a line break: NEL).
func yamlNeedsEscape(r rune) bool {
	return r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0xfeff || r == 0xfffe || r == 0xffff
}
