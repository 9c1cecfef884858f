package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func newFleetCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("fleet", "Upgrade many stores in waves, canary first, and steer the rollouts", "admin")
	cmd.AddCommand(
		newFleetUpgradeCommand(f, nil),
		newFleetStatusCommand(f, nil),
		newFleetResumeCommand(f, nil),
		newFleetAbortCommand(f, nil),
	)
	return cmd
}

// rolloutDriving is what the fleet commands that drive a rollout hold: the
// way to drive it from this process.
type rolloutDriving struct {
	drive func(ctx context.Context, id int64, workers int) (store.Rollout, error)
}

// driveRollout drives rollout id from this process until it ends: its
// waves' upgrades run here, on workers workers, with progress on stderr.
func (f *Factory) driveRollout(ctx context.Context, id int64, workers int) (store.Rollout, error) {
	svc, err := f.Service(ctx)
	if err != nil {
		return store.Rollout{}, err
	}
	runner, err := f.Runner(ctx, f.quietLogger())
	if err != nil {
		return store.Rollout{}, err
	}
	say := func(format string, a ...any) { fmt.Fprintf(f.Streams.ErrOut, format+"\n", a...) }
	d := &provision.RolloutDriver{
		Service: svc, Worker: runner.Worker, Lease: f.Config.Lease, Log: f.quietLogger(),
		RunJobs: func(ctx context.Context, jobs []store.Job) {
			sem := make(chan struct{}, max(workers, 1))
			var wg sync.WaitGroup
			for i, job := range jobs {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					r := *runner
					r.Worker = fmt.Sprintf("%s-w%d", runner.Worker, i)
					_, _ = r.Drive(ctx, job.ID, nil)
				})
			}
			wg.Wait()
		},
		Progress: func(e provision.RolloutEvent) { say("%s", describeRolloutEvent(e)) },
	}
	return d.Drive(ctx, id)
}

// waveName is how a wave is called.
func waveName(wave int) string {
	if wave == 0 {
		return "canary"
	}
	return "wave " + strconv.Itoa(wave)
}

// describeRolloutEvent is one progress line.
func describeRolloutEvent(e provision.RolloutEvent) string {
	if e.Stores == nil {
		return fmt.Sprintf("rollout %d %s", e.Rollout, e.State)
	}
	names := make([]string, len(e.Stores))
	for i, rs := range e.Stores {
		names[i] = rs.Store
	}
	if !e.Done {
		return fmt.Sprintf("rollout %d %s: upgrading %d stores: %s", e.Rollout, waveName(e.Wave), len(e.Stores), strings.Join(names, ", "))
	}
	n := map[store.RolloutStoreState]int{}
	var failed []string
	for _, rs := range e.Stores {
		n[rs.State]++
		if rs.State.Failed() || rs.State == store.RolloutStoreSkipped {
			failed = append(failed, fmt.Sprintf("  %s %s: %s", rs.Store, rs.State, rs.Reason))
		}
	}
	line := fmt.Sprintf("rollout %d %s done: %d succeeded, %d rolled back, %d failed, %d skipped", e.Rollout, waveName(e.Wave),
		n[store.RolloutStoreSucceeded], n[store.RolloutStoreRolledBack], n[store.RolloutStoreFailed], n[store.RolloutStoreSkipped])
	if len(failed) > 0 {
		line += "\n" + strings.Join(failed, "\n")
	}
	if e.State == store.RolloutHalted {
		line += fmt.Sprintf("\nrollout %d halted: %s", e.Rollout, e.Reason)
	}
	return line
}

// rolloutEnd prints a driven rollout and says how it ended: an error for
// a halted or interrupted one, naming the command that goes on.
func (c common) rolloutEnd(r store.Rollout, err error, out *outputFlag) error {
	if err != nil {
		if r.ID != 0 {
			return fmt.Errorf("rollout %d stopped: %w; run `urumi fleet resume %d` to carry it on (or leave it to `urumi serve`)", r.ID, err, r.ID)
		}
		return err
	}
	if perr := c.printer(out).print(r, rolloutStoresTable(r)); perr != nil {
		return perr
	}
	switch r.State {
	case store.RolloutHalted:
		return fmt.Errorf("rollout %d halted: %s\nfix the cause, then run `urumi fleet resume %d` (its failed stores are retried first)", r.ID, r.Reason, r.ID)
	case store.RolloutRunning:
		c.say("rollout %d is running: `urumi serve` carries it on; see `urumi fleet status %d`", r.ID, r.ID)
	default:
		c.say("rollout %d %s", r.ID, r.State)
	}
	return nil
}

type fleetUpgradeOptions struct {
	common
	rolloutDriving
	out  *outputFlag
	Req  provision.RolloutRequest
	Wait bool

	timeout time.Duration
}

func newFleetUpgradeCommand(f *Factory, runF func(*fleetUpgradeOptions) error) *cobra.Command {
	o := &fleetUpgradeOptions{common: f.common(), rolloutDriving: rolloutDriving{drive: f.driveRollout}}
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade every READY store (or an owner's, or a plan's) to this urumi's chart, in waves",
		Long: `Upgrade many stores to the store chart built into this urumi: the READY stores
of --owner and on --plan (default: all), by name, the first --canary of them
on their own, then waves of --batch-size. Each store's upgrade is the one
'urumi store upgrade' runs, and rolls back by itself when it fails. When
more than --max-failures stores have failed (a store rolled back counts), the
rollout halts after its wave and the later waves are left untouched: fix the
cause, then 'urumi fleet resume ID' retries the failed stores and carries on.

The rollout is recorded in the database: with --wait (the default) this
process drives it and runs the upgrades; killed or interrupted, it is
carried on by 'urumi fleet resume ID' or by any 'urumi serve'. With
--wait=false it is left to 'urumi serve'.`,
		Example: `  urumi fleet upgrade --canary 1 --batch-size 5 --max-failures 0
  urumi fleet upgrade --owner alice --set images.wordpress.tag=7.1.3-php8.3-apache`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	fl := cmd.Flags()
	fl.StringVar(&o.Req.Owner, "owner", "", "upgrade only this owner's stores")
	fl.StringVar(&o.Req.Plan, "plan", "", "upgrade only the stores on this plan")
	fl.IntVar(&o.Req.Canary, "canary", 1, "stores upgraded first, on their own (0: none)")
	fl.IntVar(&o.Req.BatchSize, "batch-size", provision.DefaultBatchSize, "stores upgraded together in each later wave")
	fl.IntVar(&o.Req.MaxFailures, "max-failures", 0, "failed stores the rollout tolerates before it halts")
	addSetFlag(cmd, &o.Req.Set, "; applied to every store")
	fl.DurationVar(&o.timeout, "timeout", 0, "how long each store's upgrade and, if it fails, its rollback may take (default: the timeout setting)")
	fl.BoolVar(&o.Wait, "wait", true, "drive the rollout from here and wait for it to end")
	_ = cmd.RegisterFlagCompletionFunc("plan", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.Plans.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *fleetUpgradeOptions) Complete(*Factory, *cobra.Command, []string) error {
	o.Req.Timeout = timeoutString(o.timeout)
	return nil
}

func (o *fleetUpgradeOptions) Validate() error {
	switch {
	case o.Req.Canary < 0 || o.Req.Canary > provision.MaxCanary:
		return usageError{errUsage(fmt.Sprintf("--canary %d is out of range: give 0 to %d", o.Req.Canary, provision.MaxCanary))}
	case o.Req.BatchSize < 1 || o.Req.BatchSize > provision.MaxBatchSize:
		return usageError{errUsage(fmt.Sprintf("--batch-size %d is out of range: give 1 to %d", o.Req.BatchSize, provision.MaxBatchSize))}
	case o.Req.MaxFailures < 0:
		return usageError{errUsage(fmt.Sprintf("--max-failures %d is invalid: give 0 or more", o.Req.MaxFailures))}
	}
	return validateTimeout(o.timeout)
}

func (o *fleetUpgradeOptions) Run(ctx context.Context) error {
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	r, err := svc.StartRollout(ctx, o.Caller, o.Req)
	if err != nil {
		return err
	}
	waves := 0
	for _, rs := range r.Stores {
		waves = max(waves, rs.Wave)
	}
	o.say("rollout %d: %d stores to chart %s, %d waves after the canary", r.ID, len(r.Stores), r.Params.Chart, waves)
	if !o.Wait {
		return o.rolloutEnd(r, nil, o.out)
	}
	final, err := o.drive(ctx, r.ID, o.Req.BatchSize)
	if err != nil && final.ID == 0 {
		final.ID = r.ID
	}
	return o.rolloutEnd(final, err, o.out)
}

type fleetStatusOptions struct {
	common
	out *outputFlag
	ID  int64
}

func newFleetStatusCommand(f *Factory, runF func(*fleetStatusOptions) error) *cobra.Command {
	o := &fleetStatusOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "status [ID]",
		Short: "List rollouts, or show one with each store's wave and state",
		Args:  cobra.MaximumNArgs(1),
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

// parseRolloutID reads a rollout ID argument.
func parseRolloutID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{errUsage(fmt.Sprintf("rollout ID %q is invalid: give the number urumi fleet status lists", s))}
	}
	return id, nil
}

func (o *fleetStatusOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	if len(args) == 1 {
		id, err := parseRolloutID(args[0])
		if err != nil {
			return err
		}
		o.ID = id
	}
	return nil
}

func (o *fleetStatusOptions) Validate() error { return nil }

func (o *fleetStatusOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	if o.ID == 0 {
		list, err := svc.ListRollouts(ctx, o.Caller)
		if err != nil {
			return err
		}
		return o.printer(o.out).print(list, rolloutsTable(list))
	}
	r, err := svc.GetRollout(ctx, o.Caller, o.ID)
	if err != nil {
		return err
	}
	if o.out.format == FormatTable {
		o.say("rollout %d: %s, by %s, to chart %s%s", r.ID, r.State, r.Actor, r.Params.Chart, reasonSuffix(r.Reason))
	}
	return o.printer(o.out).print(r, rolloutStoresTable(r))
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// rolloutsTable lists rollouts.
func rolloutsTable(list []store.Rollout) func(*table) {
	return func(t *table) {
		t.headers("ID", "STATE", "CHART", "OWNER", "PLAN", "CANARY", "BATCH", "MAX-FAILURES", "ACTOR", "AGE", "REASON")
		for _, r := range list {
			p := r.Params
			t.row(strconv.FormatInt(r.ID, 10), string(r.State), orDash(p.Chart), orDash(p.Owner), orDash(p.Plan),
				strconv.Itoa(p.Canary), strconv.Itoa(p.BatchSize), strconv.Itoa(p.MaxFailures), r.Actor, t.age(r.CreatedAt), orDash(r.Reason))
		}
	}
}

// rolloutStoresTable lists a rollout's stores.
func rolloutStoresTable(r store.Rollout) func(*table) {
	return func(t *table) {
		t.headers("STORE", "WAVE", "STATE", "JOB", "FROM", "TO", "REASON")
		for _, rs := range r.Stores {
			job, from, to := "-", "-", "-"
			if rs.JobID != 0 {
				job = strconv.FormatInt(rs.JobID, 10)
			}
			if rs.FromRevision != 0 {
				from = strconv.Itoa(rs.FromRevision)
			}
			if rs.ToRevision != 0 {
				to = strconv.Itoa(rs.ToRevision)
			}
			t.row(rs.Store, waveName(rs.Wave), string(rs.State), job, from, to, orDash(rs.Reason))
		}
	}
}

type fleetResumeOptions struct {
	common
	rolloutDriving
	out  *outputFlag
	ID   int64
	Wait bool
}

func newFleetResumeCommand(f *Factory, runF func(*fleetResumeOptions) error) *cobra.Command {
	o := &fleetResumeOptions{common: f.common(), rolloutDriving: rolloutDriving{drive: f.driveRollout}}
	cmd := &cobra.Command{
		Use:   "resume ID",
		Short: "Carry a halted or stopped rollout on, its failed stores first",
		Long: `Carry a rollout on. A halted rollout runs again: the stores that failed are
upgraded again first, then the waves it had not reached. A rollout whose
process was killed is taken over once that process's lease expires; the
upgrades it had started are carried on, never run twice.`,
		Example: "  urumi fleet resume 3",
		Args:    exactArgs(1, "ID"),
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "drive the rollout from here and wait for it to end")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *fleetResumeOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	id, err := parseRolloutID(args[0])
	o.ID = id
	return err
}

func (o *fleetResumeOptions) Validate() error { return nil }

func (o *fleetResumeOptions) Run(ctx context.Context) error {
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	r, err := svc.ResumeRollout(ctx, o.Caller, o.ID)
	if err != nil {
		return err
	}
	if !o.Wait {
		return o.rolloutEnd(r, nil, o.out)
	}
	o.say("rollout %d resumed", r.ID)
	final, err := o.drive(ctx, r.ID, r.Params.BatchSize)
	if err != nil && final.ID == 0 {
		final.ID = r.ID
	}
	return o.rolloutEnd(final, err, o.out)
}

type fleetAbortOptions struct {
	common
	out *outputFlag
	ID  int64
}

func newFleetAbortCommand(f *Factory, runF func(*fleetAbortOptions) error) *cobra.Command {
	o := &fleetAbortOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:     "abort ID",
		Short:   "Stop a rollout: upgrades in flight finish, no more start",
		Example: "  urumi fleet abort 3",
		Args:    exactArgs(1, "ID"),
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *fleetAbortOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	id, err := parseRolloutID(args[0])
	o.ID = id
	return err
}

func (o *fleetAbortOptions) Validate() error { return nil }

func (o *fleetAbortOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	r, err := svc.AbortRollout(ctx, o.Caller, o.ID)
	if err != nil {
		if errors.Is(err, provision.ErrConflict) {
			return fmt.Errorf("%w: see `urumi fleet status %d`", err, o.ID)
		}
		return err
	}
	o.say("rollout %d aborted: upgrades in flight finish, the stores not started are skipped", r.ID)
	return o.printer(o.out).print(r, rolloutStoresTable(r))
}
