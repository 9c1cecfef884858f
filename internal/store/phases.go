package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Phases are stored as compact JSON, one [name, startedAt, durationMs]
// array per phase with startedAt in unix microseconds:
//
//	[["namespace",1767225600000000,12],["helm",1767225600012000,3400]]
//
// Listing every store decodes them for each row, and Phase's own JSON form
// decoded with encoding/json was about half the cost of a 10,000-store list;
// this form is a third of the size and decodePhases parses it by hand,
// leaving anything unusual (escaped names, whitespace) to encoding/json.

func encodePhases(ps []Phase) (sql.NullString, error) {
	if len(ps) == 0 {
		return sql.NullString{}, nil
	}
	rows := make([][3]any, len(ps))
	for i, p := range ps {
		rows[i] = [3]any{p.Name, toMicros(p.StartedAt), p.DurationMS}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode phases: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func decodePhases(s string) ([]Phase, error) {
	if s == "" || s == "[]" || s == "null" {
		return nil, nil
	}
	if ps, ok := parsePhases(s); ok {
		return ps, nil
	}
	var rows [][3]json.RawMessage
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, err
	}
	ps := make([]Phase, len(rows))
	for i, r := range rows {
		var startedAt int64
		if err := json.Unmarshal(r[0], &ps[i].Name); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(r[1], &startedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(r[2], &ps[i].DurationMS); err != nil {
			return nil, err
		}
		ps[i].StartedAt = fromMicros(startedAt)
	}
	return ps, nil
}

// parsePhases parses the form encodePhases writes when no name needs
// escaping; ok is false for anything else.
func parsePhases(s string) (ps []Phase, ok bool) {
	if len(s) < 2 || s[0] != '[' {
		return nil, false
	}
	ps = make([]Phase, 0, strings.Count(s, `["`))
	i := 1
	// integer parses an optionally negative decimal at s[i:] and moves i
	// past it.
	integer := func() (int64, bool) {
		neg := i < len(s) && s[i] == '-'
		if neg {
			i++
		}
		start := i
		var n int64
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			n = n*10 + int64(s[i]-'0')
		}
		if i == start || i-start > 18 {
			return 0, false
		}
		if neg {
			n = -n
		}
		return n, true
	}
	for {
		var p Phase
		if !strings.HasPrefix(s[i:], `["`) {
			return nil, false
		}
		i += 2
		end := strings.IndexByte(s[i:], '"')
		if end < 0 {
			return nil, false
		}
		p.Name = s[i : i+end]
		if strings.IndexByte(p.Name, '\\') >= 0 {
			return nil, false
		}
		i += end + 1
		if i >= len(s) || s[i] != ',' {
			return nil, false
		}
		i++
		startedAt, ok := integer()
		if !ok || i >= len(s) || s[i] != ',' {
			return nil, false
		}
		i++
		if p.DurationMS, ok = integer(); !ok || i+1 >= len(s) || s[i] != ']' {
			return nil, false
		}
		p.StartedAt = time.UnixMicro(startedAt).UTC()
		ps = append(ps, p)
		switch s[i+1] {
		case ']':
			return ps, i+2 == len(s)
		case ',':
			i += 2
		default:
			return nil, false
		}
	}
}
