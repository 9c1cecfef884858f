package cli

import (
	"bufio"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Format is an output format of -o.
type Format string

// The output formats. Wide is a table with more columns, offered only by
// commands that have them.
const (
	FormatTable Format = "table"
	FormatWide  Format = "wide"
	FormatJSON  Format = "json"
	FormatYAML  Format = "yaml"
)

// outputFlag is -o, a pflag.Value: an unknown format fails while flags are
// parsed, before any work is done.
type outputFlag struct {
	format  Format
	allowed []Format
}

// addOutputFlag adds -o to cmd; a non-empty wideHelp offers -o wide and
// says what it adds.
func addOutputFlag(cmd *cobra.Command, wideHelp string) *outputFlag {
	o := &outputFlag{format: FormatTable, allowed: []Format{FormatTable, FormatJSON, FormatYAML}}
	if wideHelp != "" {
		o.allowed = []Format{FormatTable, FormatWide, FormatJSON, FormatYAML}
	}
	names := make([]string, len(o.allowed))
	for i, f := range o.allowed {
		names[i] = string(f)
	}
	cmd.Flags().VarP(o, "output", "o", "output format: "+strings.Join(names, "|")+wideHelp)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
	return o
}

func (o *outputFlag) String() string { return string(o.format) }
func (o *outputFlag) Type() string   { return "format" }

func (o *outputFlag) Set(s string) error {
	for _, f := range o.allowed {
		if Format(s) == f {
			o.format = f
			return nil
		}
	}
	names := make([]string, len(o.allowed))
	for i, f := range o.allowed {
		names[i] = string(f)
	}
	return fmt.Errorf("unknown output format %q: use %s or %s", s, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

func (o *outputFlag) isWide() bool { return o.format == FormatWide }

// printer writes a command's result to stdout in the chosen format, on the
// terminal the Factory decided on.
type printer struct {
	w      io.Writer
	term   *terminal
	now    func() time.Time
	format Format
}

// print writes v as JSON or YAML, or calls rows to fill a table.
func (p printer) print(v any, rows func(*table)) error {
	switch p.format {
	case FormatJSON:
		return writeJSON(p.w, v)
	case FormatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = p.w.Write(b)
		return err
	}
	t := &table{term: p.term, now: p.now}
	rows(t)
	return t.write(p.w)
}

// writeJSON writes v as json.Encoder does with a two-space indent. A list
// is encoded an element at a time: 10,000 stores were otherwise encoded
// whole, then indented whole into a second buffer, before a byte was
// written.
func writeJSON(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Slice || rv.IsNil() || rv.Len() == 0 ||
		rv.Type().Elem().Kind() == reflect.Uint8 || rv.Type().Implements(reflect.TypeFor[json.Marshaler]()) ||
		rv.Type().Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		return nil
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("[\n")
	for i := range rv.Len() {
		// By address, as the encoder reaches a slice's elements: a
		// MarshalJSON with a pointer receiver is called here too.
		b, err := json.MarshalIndent(rv.Index(i).Addr().Interface(), "  ", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		bw.WriteString("  ")
		bw.Write(b)
		if i < rv.Len()-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// table collects rows and writes them aligned. The header is only shown on
// a terminal; piped output is plain tab-separated rows for scripts.
type table struct {
	header  []string
	rows    [][]string
	term    *terminal
	now     func() time.Time
	plain   bool // bare rows even on a terminal
	aligned bool // aligned even when piped
}

func (t *table) headers(h ...string) { t.header = h }
func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// age is how long ago ts was, shortly: 45s, 12m, 30h, 9d.
func (t *table) age(ts time.Time) string {
	d := t.now().Sub(ts)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// sinceOr is ts's age, or none for the zero time.
func (t *table) sinceOr(ts time.Time, none string) string {
	if ts.IsZero() {
		return none
	}
	return t.age(ts) + " ago"
}

func (t *table) write(out io.Writer) error {
	// One write per row would be a system call each: 10,000 stores'
	// worth of them costs more than reading the stores.
	w := bufio.NewWriterSize(out, 64<<10)
	if t.plain || (!t.term.tty && !t.aligned) {
		for _, r := range t.rows {
			w.WriteString(strings.Join(r, "\t"))
			w.WriteByte('\n')
		}
		return w.Flush()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(tw, t.term.bold(strings.Join(t.header, "\t")))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return w.Flush()
}
