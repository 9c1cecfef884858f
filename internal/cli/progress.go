package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/urumi/urumi/internal/provision"
)

// progress prints a job's phases on stderr as they happen: on a terminal, a
// live line per phase with its elapsed time; piped, one plain line per
// finished phase.
type progress struct {
	w    io.Writer
	term *terminal

	mu      sync.Mutex
	phase   string
	started time.Time
	stop    chan struct{}
	done    chan struct{}
}

func newProgress(w io.Writer, term *terminal) *progress {
	return &progress{w: w, term: term}
}

func (p *progress) Event(e provision.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.State {
	case provision.PhaseStarted:
		p.phase, p.started = e.Phase, time.Now()
		if p.term.tty {
			p.startTicker()
		}
	case provision.PhaseDone:
		p.stopTicker()
		p.line(p.term.green("✓"), e.Phase, e.Elapsed, "")
	case provision.PhaseFailed:
		p.stopTicker()
		p.line(p.term.red("✗"), e.Phase, e.Elapsed, "")
	case provision.JobWaiting:
		fmt.Fprintf(p.w, "%s another urumi process is running this job; waiting for it (or for its lease to expire)\n", p.term.dim("…"))
	case provision.JobTakingOver:
		fmt.Fprintf(p.w, "%s resuming work an earlier run left unfinished\n", p.term.dim("↻"))
	}
}

func (p *progress) line(mark, phase string, d time.Duration, note string) {
	if p.term.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%s %-18s %s%s\n", mark, phase, p.term.dim(d.Round(10*time.Millisecond).String()), note)
}

// startTicker redraws the running phase's elapsed time; callers hold mu.
func (p *progress) startTicker() {
	p.stopTicker()
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	stop, done, phase, started := p.stop, p.done, p.phase, p.started
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		spin := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		for i := 0; ; i++ {
			fmt.Fprintf(p.w, "\r\033[K%s %-18s %s", p.term.yellow(spin[i%len(spin)]), phase, p.term.dim(time.Since(started).Round(100*time.Millisecond).String()))
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (p *progress) stopTicker() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
}

// finish stops any live line (on interrupt).
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopTicker()
	if p.term.tty && p.phase != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
