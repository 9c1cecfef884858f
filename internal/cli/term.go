package cli

import (
	"errors"
	"io"
	"os"
	"strconv"

	"charm.land/lipgloss/v2"
	"golang.org/x/term"
)

// terminal is what a stream is: a terminal or not, coloured or not, and
// how wide. The Factory decides it once per stream; printing receives it.
type terminal struct {
	tty   bool
	color bool
	width int // columns, 0 when unknown (piped)
}

// newTerminal decides for w: NO_COLOR turns colour off, CLICOLOR_FORCE
// turns it on even when piped; COLUMNS gives the width when the terminal
// does not.
func newTerminal(w io.Writer, getenv func(string) string) *terminal {
	t := &terminal{}
	if f, ok := w.(*os.File); ok {
		t.tty = term.IsTerminal(int(f.Fd()))
		if t.tty {
			t.width, _, _ = term.GetSize(int(f.Fd()))
		}
	}
	if t.width == 0 && t.tty {
		t.width, _ = strconv.Atoi(getenv("COLUMNS"))
	}
	return decideColour(t, getenv)
}

// decideColour colours a terminal unless TERM=dumb; NO_COLOR turns colour
// off and CLICOLOR_FORCE on, even when piped.
func decideColour(t *terminal, getenv func(string) string) *terminal {
	t.color = t.tty && getenv("TERM") != "dumb"
	if getenv("NO_COLOR") != "" {
		t.color = false
	} else if v := getenv("CLICOLOR_FORCE"); v != "" && v != "0" {
		t.color = true
	}
	return t
}

func (t *terminal) style(s lipgloss.Style, text string) string {
	if !t.color {
		return text
	}
	return s.Render(text)
}

func (t *terminal) bold(s string) string { return t.style(lipgloss.NewStyle().Bold(true), s) }
func (t *terminal) dim(s string) string  { return t.style(lipgloss.NewStyle().Faint(true), s) }
func (t *terminal) green(s string) string {
	return t.style(lipgloss.NewStyle().Foreground(lipgloss.Color("2")), s)
}
func (t *terminal) red(s string) string {
	return t.style(lipgloss.NewStyle().Foreground(lipgloss.Color("1")), s)
}
func (t *terminal) yellow(s string) string {
	return t.style(lipgloss.NewStyle().Foreground(lipgloss.Color("3")), s)
}

func (t *terminal) errorLine(err error) string {
	var ue usageError
	msg := t.red("Error:") + " " + err.Error()
	if errors.As(err, &ue) {
		msg += "\n" + t.dim("Run with --help for usage.")
	}
	return msg
}

// statusText colours a store status for a terminal.
func (t *terminal) statusText(s string) string {
	switch s {
	case "READY":
		return t.green(s)
	case "FAILED":
		return t.red(s)
	case "QUEUED", "PROVISIONING", "UPGRADING", "DELETING", "DEGRADED":
		return t.yellow(s)
	}
	return s
}
