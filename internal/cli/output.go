package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/urumi/urumi/internal/provision"
)

// outputFlag is the -o flag: table (default), wide, json or yaml.
type outputFlag struct {
	format string
	wide   bool // the command has a wide form
}

func (o *outputFlag) add(cmd *cobra.Command, wideHelp string) {
	formats := []string{"table", "json", "yaml"}
	if wideHelp != "" {
		o.wide = true
		formats = []string{"table", "wide", "json", "yaml"}
	}
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: "+strings.Join(formats, "|")+wideHelp)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// validate rejects an unknown format before any work is done.
func (o *outputFlag) validate() error {
	switch o.format {
	case "table", "json", "yaml":
		return nil
	case "wide":
		if o.wide {
			return nil
		}
	}
	return usageError{fmt.Errorf("unknown output format %q: use table, json or yaml", o.format)}
}

func (o *outputFlag) isWide() bool { return o.format == "wide" }

// print writes v as JSON or YAML, or calls rows to fill a table.
func (o *outputFlag) print(w io.Writer, v any, rows func(*table)) error {
	if err := o.validate(); err != nil {
		return err
	}
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	t := &table{}
	rows(t)
	return t.write(w)
}

// table collects rows and writes them aligned. The header is only shown on
// a terminal; piped output is plain tab-separated rows for scripts.
type table struct {
	header []string
	rows   [][]string
	term   *terminal
}

func (t *table) headers(h ...string) { t.header = h }
func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(out io.Writer) error {
	// One write per row would be a system call each: 10,000 stores'
	// worth of them costs more than reading the stores.
	w := bufio.NewWriterSize(out, 64<<10)
	if t.term != nil && !t.term.tty {
		for _, r := range t.rows {
			w.WriteString(strings.Join(r, "\t"))
			w.WriteByte('\n')
		}
		return w.Flush()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if len(t.header) > 0 {
		h := strings.Join(t.header, "\t")
		if t.term != nil {
			h = t.term.bold(h)
		}
		fmt.Fprintln(tw, h)
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return w.Flush()
}

// newListCommand is a `list` subcommand that asks the core for rows as the
// local caller and prints them as a table or as data.
func newListCommand[T any](f *Factory, short string, fetch func(*provision.Service, context.Context, provision.Caller) ([]T, error), rows func(*terminal, []T) func(*table)) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   short,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			items, err := fetch(svc, cmd.Context(), f.caller())
			if err != nil {
				return err
			}
			return out.print(f.Streams.Out, items, rows(newTerminal(f.Streams.Out, f.Getenv), items))
		},
	}
	out.add(cmd, "")
	return cmd
}
