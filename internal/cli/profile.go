package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
)

// profileRun writes a CPU profile of serve's run to cpuPath, and a heap
// profile to heapPath (if set) as it stops. For benchmarks that want a
// profile per phase, SIGUSR1 ends a segment: the heap as it is then is
// written to heapPath.1 (then .2, ...), the CPU profile so far is closed
// and renamed cpuPath.1 (.2, ...), and the next segment starts. The
// returned stop ends the last segment.
func profileRun(cpuPath, heapPath string, log *slog.Logger) (stop func(), err error) {
	start := func() (*os.File, error) {
		pf, err := os.Create(cpuPath)
		if err != nil {
			return nil, fmt.Errorf("URUMI_CPU_PROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return nil, fmt.Errorf("URUMI_CPU_PROFILE: %w", err)
		}
		return pf, nil
	}
	writeHeap := func(path string) { writeHeapProfile(path, log) }
	pf, err := start()
	if err != nil {
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	if sigs := segmentSignals(); len(sigs) > 0 {
		signal.Notify(sig, sigs...)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-sig:
			}
			pprof.StopCPUProfile()
			pf.Close()
			// The heap first: once the CPU segment has its name, both
			// are there.
			if heapPath != "" {
				writeHeap(fmt.Sprintf("%s.%d", heapPath, n))
			}
			if err := os.Rename(cpuPath, fmt.Sprintf("%s.%d", cpuPath, n)); err != nil {
				log.Warn("end a CPU profile segment", "err", err)
			}
			next, err := start()
			if err != nil {
				pf = nil
				log.Warn("start a CPU profile segment", "err", err)
				<-done
				return
			}
			pf = next
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-finished
		if pf != nil {
			pprof.StopCPUProfile()
			pf.Close()
		}
		writeHeap(heapPath)
	}, nil
}

// writeHeapProfile writes the heap profile to path, if set.
func writeHeapProfile(path string, log *slog.Logger) {
	if path == "" {
		return
	}
	pf, err := os.Create(path)
	if err != nil {
		log.Warn("write the heap profile", "err", err)
		return
	}
	defer pf.Close()
	if err := pprof.Lookup("heap").WriteTo(pf, 0); err != nil {
		log.Warn("write the heap profile", "path", path, "err", err)
	}
}
