package store

import (
	"reflect"
	"testing"
	"time"
)

func TestPhasesRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", -7200))
	tests := []struct {
		name   string
		phases []Phase
	}{
		{"none", nil},
		{"one", []Phase{{Name: "helm", StartedAt: at, DurationMS: 3400}}},
		{"several", []Phase{{Name: "namespace", StartedAt: at, DurationMS: 0}, {Name: "wait", StartedAt: at.Add(time.Hour), DurationMS: 987654321}}},
		{"escaped name", []Phase{{Name: `say "hi" \ <now>`, StartedAt: at, DurationMS: 1}}},
		{"unicode name", []Phase{{Name: "Größe ✓", StartedAt: at, DurationMS: 1}}},
		{"before 1970", []Phase{{Name: "old", StartedAt: time.Date(1960, 5, 6, 7, 8, 9, 1000, time.UTC), DurationMS: -5}}},
		{"zero time", []Phase{{Name: "unstarted"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := encodePhases(tt.phases)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodePhases(enc.String)
			if err != nil {
				t.Fatalf("decodePhases(%s): %v", enc.String, err)
			}
			var want []Phase
			for _, p := range tt.phases {
				p.StartedAt = fromMicros(toMicros(p.StartedAt)) // stored to the microsecond, in UTC
				want = append(want, p)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodePhases(%s) =\n%+v\nwant\n%+v", enc.String, got, want)
			}
		})
	}
}

func TestDecodePhases(t *testing.T) {
	tests := []struct {
		in      string
		want    []Phase
		wantErr bool
	}{
		{in: ``},
		{in: `[]`},
		{in: `null`},
		{in: `[["a",1000000,5]]`, want: []Phase{{Name: "a", StartedAt: fromMicros(1000000), DurationMS: 5}}},
		{in: ` [ ["a", 1000000, 5] ] `, want: []Phase{{Name: "a", StartedAt: fromMicros(1000000), DurationMS: 5}}}, // by encoding/json
		{in: `[["a\u00e9",0,1],["b",2,3]]`, want: []Phase{{Name: "aé", StartedAt: fromMicros(0), DurationMS: 1}, {Name: "b", StartedAt: fromMicros(2), DurationMS: 3}}},
		{in: `[["a",1,2]`, wantErr: true},
		{in: `[["a",1]]`, wantErr: true},
		{in: `[["a","x",2]]`, wantErr: true},
		{in: `[["a",1,2]]x`, wantErr: true},
		{in: `{"name":"a"}`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := decodePhases(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodePhases(%s) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
