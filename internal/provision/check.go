package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/backup"
	"github.com/urumi/urumi/internal/store"
)

// `store check`: the live cluster against what urumi wants for a store.
// Each finding names its kind, the object, what is wrong and how to fix
// it, and whether urumi made the object, so that a repair can act on the
// findings (bring back what urumi made; report the rest to a person).

// CheckStatus is a finding's verdict, or a store's or report's worst.
type CheckStatus string

// Verdicts, from best to worst. Info says what no check can prove.
const (
	CheckPass CheckStatus = "pass"
	CheckInfo CheckStatus = "info"
	CheckWarn CheckStatus = "warn"
	CheckFail CheckStatus = "fail"
)

func (s CheckStatus) rank() int {
	return slices.Index([]CheckStatus{CheckPass, CheckInfo, CheckWarn, CheckFail}, s)
}

func worse(a, b CheckStatus) CheckStatus {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Kinds of finding: what was compared. Repair acts by kind.
const (
	FindingState          = "state"            // the store is not in a state to check
	FindingNamespace      = "namespace"        // labels and Pod Security level
	FindingQuota          = "quota"            // the ResourceQuota against the plan
	FindingLimitRange     = "limit-range"      // the LimitRange against the plan
	FindingNetworkPolicy  = "network-policy"   // urumi's NetworkPolicies
	FindingCredentials    = "credentials"      // the credentials Secret's keys
	FindingRelease        = "release"          // the Helm release's last revision
	FindingReleaseObject  = "release-object"   // an object of the release's manifest
	FindingWorkload       = "workload"         // Deployments and StatefulSets ready
	FindingSetupJob       = "setup-job"        // the chart's Jobs complete
	FindingClaim          = "claim"            // PersistentVolumeClaims bound
	FindingIsolation      = "isolation"        // the isolation self-test
	FindingExtraPolicy    = "extra-policy"     // a NetworkPolicy not urumi's
	FindingRoleBinding    = "role-binding"     // a RoleBinding in the namespace
	FindingExposedService = "exposed-service"  // a NodePort or LoadBalancer Service
	FindingStrayPod       = "stray-pod"        // a pod not from the chart's workloads
	FindingOrphanNS       = "orphan-namespace" // a namespace labelled urumi's, no store
	FindingOrphanRecord   = "orphan-record"    // a store whose namespace is gone
)

// Finding is one check's outcome.
type Finding struct {
	Kind   string      `json:"kind"`
	Status CheckStatus `json:"status"`
	// Object is "Kind/name" in the store's namespace ("NetworkPolicy/default-deny"),
	// or "Namespace/NAME".
	Object  string `json:"object,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
	// Managed is true when urumi (or its chart) made the object: repair may
	// put it back. Anything else is a person's to decide.
	Managed bool `json:"managed"`
	// Isolation holds the self-test's failing rows, and Table the whole
	// truth table as text, when the isolation self-test fails.
	Isolation []IsolationRow `json:"isolation,omitempty"`
	Table     string         `json:"table,omitempty"`
	// health marks a failure of health alone (a workload not ready, a
	// claim not bound) with nothing changed: what a pod restart looks
	// like, which the reconciler gives time before calling it drift.
	health bool
}

// IsolationRow is one connection the live policies answer otherwise than
// urumi wants.
type IsolationRow struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Port     string `json:"port"`
	Expected string `json:"expected"` // "allowed" or "denied"
	Got      string `json:"got"`
}

// StoreCheck is one store's findings.
type StoreCheck struct {
	Store     string      `json:"store"`
	Namespace string      `json:"namespace"`
	Status    CheckStatus `json:"status"`
	Findings  []Finding   `json:"findings"`
}

// CheckReport is what a check returns: each store's findings, the orphans
// found (with --all), and the worst verdict of all.
type CheckReport struct {
	Status    CheckStatus  `json:"status"`
	CheckedAt time.Time    `json:"checkedAt"`
	Stores    []StoreCheck `json:"stores"`
	Orphans   []Finding    `json:"orphans,omitempty"`
}

// Failed counts the failed findings.
func (r CheckReport) Failed() int {
	n := 0
	for _, s := range r.Stores {
		for _, f := range s.Findings {
			if f.Status == CheckFail {
				n++
			}
		}
	}
	for _, f := range r.Orphans {
		if f.Status == CheckFail {
			n++
		}
	}
	return n
}

func (r *CheckReport) finish() {
	r.Status = CheckPass
	for _, s := range r.Stores {
		r.Status = worse(r.Status, s.Status)
	}
	for _, f := range r.Orphans {
		r.Status = worse(r.Status, f.Status)
	}
}

// Check compares one store the caller may see with what urumi wants.
func (s *Service) Check(ctx context.Context, c Caller, k *Kube, name string) (CheckReport, error) {
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return CheckReport{}, err
	}
	if k == nil {
		return CheckReport{}, errors.New("store check needs the cluster: no cluster connection is configured")
	}
	snap, err := k.takeSnapshot(ctx, Namespace(st.Name))
	if err != nil {
		return CheckReport{}, err
	}
	r := CheckReport{CheckedAt: time.Now().UTC(), Stores: []StoreCheck{k.judge(ctx, snap, st)}}
	r.finish()
	return r, nil
}

// CheckAll checks every store and reports orphans on both sides: a
// namespace labelled as urumi's without a store, and a READY or FAILED
// store whose namespace is gone. Admins only. It reads the cluster once,
// with a few LISTs per kind, whatever the number of stores.
func (s *Service) CheckAll(ctx context.Context, c Caller, k *Kube) (CheckReport, error) {
	if !c.Admin {
		return CheckReport{}, errorf(ErrForbidden, "only an admin may check every store")
	}
	if k == nil {
		return CheckReport{}, errors.New("store check needs the cluster: no cluster connection is configured")
	}
	stores, err := s.DB.ListStores(ctx, store.ListFilter{})
	if err != nil {
		return CheckReport{}, fmt.Errorf("list stores: %w", err)
	}
	snap, err := k.takeSnapshot(ctx, "")
	if err != nil {
		return CheckReport{}, err
	}
	r := CheckReport{CheckedAt: time.Now().UTC(), Stores: []StoreCheck{}}
	known := map[string]bool{}
	for _, st := range stores {
		ns := Namespace(st.Name)
		known[ns] = true
		if checkable(st.Status) {
			// A list leaves out the options, where the store's plan is.
			full, err := s.DB.GetStore(ctx, st.Name)
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return CheckReport{}, fmt.Errorf("read store %s: %w", st.Name, err)
			}
			st = full
		}
		if _, ok := snap.namespaces[ns]; !ok && checkable(st.Status) {
			// Not among the namespaces labelled urumi's: gone, or its
			// labels were taken off. Ask, for this store alone.
			one, err := k.takeSnapshot(ctx, ns)
			if err != nil {
				return CheckReport{}, err
			}
			if len(one.namespaces) == 0 {
				r.Orphans = append(r.Orphans, orphanRecord(st))
				continue
			}
			r.Stores = append(r.Stores, k.judge(ctx, one, st))
			continue
		}
		r.Stores = append(r.Stores, k.judge(ctx, snap, st))
	}
	var orphans []string
	for ns := range snap.namespaces {
		if !known[ns] {
			orphans = append(orphans, ns)
		}
	}
	sort.Strings(orphans)
	for _, ns := range orphans {
		r.Orphans = append(r.Orphans, orphanNamespace(snap.namespaces[ns]))
	}
	r.finish()
	return r, nil
}

// orphanRecord is the finding of a store whose namespace is gone.
func orphanRecord(st store.Store) Finding {
	ns := Namespace(st.Name)
	return Finding{
		Kind: FindingOrphanRecord, Status: CheckFail, Object: "Namespace/" + ns, Managed: true,
		Message: fmt.Sprintf("store %s is %s but its namespace %s is gone", st.Name, st.Status, ns),
		Fix:     fmt.Sprintf("if the store is meant to be gone, `urumi store forget %s` closes its record; to make it anew (empty), %s", st.Name, repairHint(st.Name)),
	}
}

// orphanNamespace is the finding of a namespace labelled urumi's whose
// store urumi has no record of.
func orphanNamespace(n *corev1.Namespace) Finding {
	name := n.Labels[LabelStore]
	if name == "" {
		name, _ = strings.CutPrefix(n.Name, Namespace(""))
	}
	return Finding{
		Kind: FindingOrphanNS, Status: CheckFail, Object: "Namespace/" + n.Name, Managed: true,
		Message: fmt.Sprintf("namespace %s is labelled as urumi's (store %q) but urumi has no store of that name", n.Name, n.Labels[LabelStore]),
		Fix: fmt.Sprintf("if it belongs to another urumi database, check it there; `urumi store adopt %s --owner OWNER` makes it a store of this one again; "+
			"or delete it once its data is saved: `kubectl delete namespace %s`", name, n.Name),
	}
}

// checkable says whether a store in status st should have its objects:
// READY, DEGRADED and FAILED stores should; a store queued, being created
// or being deleted is still changing.
func checkable(st store.Status) bool {
	return st == store.StatusReady || st == store.StatusDegraded || st == store.StatusFailed
}

// repairHint is how to bring back what urumi made.
func repairHint(name string) string {
	return fmt.Sprintf("`urumi store repair %s` puts back what urumi made", name)
}

// judge checks one store against the snapshot.
func (k *Kube) judge(ctx context.Context, snap *snapshot, st store.Store) StoreCheck {
	ns := Namespace(st.Name)
	sc := StoreCheck{Store: st.Name, Namespace: ns, Findings: []Finding{}}
	add := func(f Finding) {
		sc.Findings = append(sc.Findings, f)
		sc.Status = worse(sc.Status, f.Status)
	}
	sc.Status = CheckPass
	if !checkable(st.Status) {
		add(Finding{Kind: FindingState, Status: CheckWarn, Message: fmt.Sprintf("store is %s: it is checked once READY, DEGRADED or FAILED", st.Status),
			Fix: fmt.Sprintf("wait for it, or follow it with `urumi store get %s`", st.Name)})
		return sc
	}
	namespace := snap.namespaces[ns]
	if namespace == nil {
		add(Finding{Kind: FindingNamespace, Status: CheckFail, Object: "Namespace/" + ns, Managed: true,
			Message: "the store's namespace is gone", Fix: repairHint(st.Name)})
		return sc
	}
	opts, err := decodeOptions(st.Options)
	if err == nil {
		var plan Plan
		plan, err = storePlan(st.Plan, opts)
		if err == nil {
			j := judgement{k: k, snap: snap, st: st, ns: ns, plan: plan, opts: opts, objs: snap.byNS[ns], add: add}
			if j.objs == nil {
				j.objs = &nsObjects{}
			}
			j.namespace(namespace)
			j.quota()
			j.limitRange()
			j.policies()
			j.credentials()
			j.release(ctx)
			j.access()
			return sc
		}
	}
	add(Finding{Kind: FindingState, Status: CheckFail, Message: "urumi cannot read what it recorded for the store: " + err.Error(),
		Fix: "report this: the store's record is damaged"})
	return sc
}

// judgement holds what the checks of one store share.
type judgement struct {
	k    *Kube
	snap *snapshot
	st   store.Store
	ns   string
	plan Plan
	opts Options
	objs *nsObjects
	add  func(Finding)
	// chart is the release's objects, "Kind/name", once read.
	chart map[string]bool
}

func (j *judgement) pass(kind, msg string) {
	j.add(Finding{Kind: kind, Status: CheckPass, Message: msg, Managed: true})
}

func (j *judgement) namespace(n *corev1.Namespace) {
	want := storeLabels(j.st.Name, j.st.Owner)
	for _, l := range []string{"enforce", "audit", "warn"} {
		want["pod-security.kubernetes.io/"+l] = "restricted"
	}
	var wrong []string
	for _, key := range sortedKeys(want) {
		if got, ok := n.Labels[key]; !ok {
			wrong = append(wrong, key+" is missing")
		} else if got != want[key] {
			wrong = append(wrong, fmt.Sprintf("%s is %q, want %q", key, got, want[key]))
		}
	}
	// A version pinned below latest loosens what restricted means.
	if v, ok := n.Labels["pod-security.kubernetes.io/enforce-version"]; ok && v != "latest" {
		wrong = append(wrong, fmt.Sprintf("pod-security.kubernetes.io/enforce-version is %q (urumi sets none: latest)", v))
	}
	if len(wrong) > 0 {
		j.add(Finding{Kind: FindingNamespace, Status: CheckFail, Object: "Namespace/" + j.ns, Managed: true,
			Message: "labels changed: " + strings.Join(wrong, "; "), Fix: repairHint(j.st.Name)})
		return
	}
	j.pass(FindingNamespace, "labels and Pod Security level restricted as urumi set them")
}

func (j *judgement) quota() {
	obj := "ResourceQuota/" + quotaName
	i := slices.IndexFunc(j.objs.quotas, func(q corev1.ResourceQuota) bool { return q.Name == quotaName })
	if i < 0 {
		j.add(Finding{Kind: FindingQuota, Status: CheckFail, Object: obj, Managed: true,
			Message: "the plan's ResourceQuota is missing", Fix: repairHint(j.st.Name)})
		return
	}
	want, live := j.plan.quotaHard(), j.objs.quotas[i].Spec.Hard
	var wrong []string
	for _, name := range sortedResourceNames(want) {
		got, ok := live[name]
		w := want[name]
		switch {
		case !ok:
			wrong = append(wrong, string(name)+" is missing, plan says "+w.String())
		case got.Cmp(w) != 0:
			wrong = append(wrong, fmt.Sprintf("%s is %s, plan says %s", name, got.String(), w.String()))
		}
	}
	for _, name := range sortedResourceNames(live) {
		if _, ok := want[name]; !ok {
			q := live[name]
			wrong = append(wrong, fmt.Sprintf("%s=%s is not in the plan", name, q.String()))
		}
	}
	if len(wrong) > 0 {
		j.add(Finding{Kind: FindingQuota, Status: CheckFail, Object: obj, Managed: true,
			Message: fmt.Sprintf("differs from plan %s: %s", j.plan.Name, strings.Join(wrong, "; ")), Fix: repairHint(j.st.Name)})
		return
	}
	j.pass(FindingQuota, "ResourceQuota equal to plan "+j.plan.Name)
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (j *judgement) limitRange() {
	obj := "LimitRange/" + limitRangeName
	i := slices.IndexFunc(j.objs.limitRanges, func(l corev1.LimitRange) bool { return l.Name == limitRangeName })
	if i < 0 {
		j.add(Finding{Kind: FindingLimitRange, Status: CheckFail, Object: obj, Managed: true,
			Message: "the plan's LimitRange is missing", Fix: repairHint(j.st.Name)})
		return
	}
	want, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(ptr.To(j.plan.limitRange()))
	live, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(&j.objs.limitRanges[i].Spec)
	if err := errors.Join(err1, err2); err != nil {
		j.add(Finding{Kind: FindingLimitRange, Status: CheckFail, Object: obj, Managed: true, Message: "cannot compare: " + err.Error()})
		return
	}
	if diffs := equalDiff("spec", want, live); len(diffs) > 0 {
		j.add(Finding{Kind: FindingLimitRange, Status: CheckFail, Object: obj, Managed: true,
			Message: fmt.Sprintf("differs from plan %s: %s", j.plan.Name, describeDiffs(diffs, false)), Fix: repairHint(j.st.Name)})
		return
	}
	j.pass(FindingLimitRange, "LimitRange equal to plan "+j.plan.Name)
}

// describeDiffs says the first few differences.
func describeDiffs(diffs []fieldDiff, hide bool) string {
	var parts []string
	for i, d := range diffs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(diffs)-3))
			break
		}
		if d.Want == nil && d.Got != nil {
			parts = append(parts, d.Path+" was added")
			continue
		}
		parts = append(parts, d.describe(hide))
	}
	return strings.Join(parts, "; ")
}

func (j *judgement) policies() {
	memo := j.snap.memo
	var inputs uint64
	if memo != nil {
		inputs = memo.policyInputs(j.ns, j.st.Name, j.st.Owner, j.k.routerNamespace(j.opts), j.plan.Egress, j.objs.policies)
		if p, ok := memo.policiesPassed(j.ns, inputs); ok {
			j.pass(FindingNetworkPolicy, fmt.Sprintf("urumi's %d NetworkPolicies present and unchanged", p.policies))
			j.pass(FindingIsolation, fmt.Sprintf("isolation self-test: the live policies answer all %d connections as urumi wants", p.cases))
			return
		}
	}
	want, err := networkPolicies(j.st.Name, j.st.Owner, j.k.routerNamespace(j.opts), j.plan.Egress)
	if err != nil {
		j.add(Finding{Kind: FindingNetworkPolicy, Status: CheckFail, Message: "cannot build urumi's policies: " + err.Error()})
		return
	}
	ours := map[string]bool{}
	bad := 0
	for _, p := range want {
		ours[p.Name] = true
		obj := "NetworkPolicy/" + p.Name
		i := slices.IndexFunc(j.objs.policies, func(l networkingv1.NetworkPolicy) bool { return l.Name == p.Name })
		if i < 0 {
			bad++
			j.add(Finding{Kind: FindingNetworkPolicy, Status: CheckFail, Object: obj, Managed: true,
				Message: "urumi's policy is missing (deleted)", Fix: repairHint(j.st.Name)})
			continue
		}
		live := &j.objs.policies[i]
		var diffs []fieldDiff
		// urumi's policies spell out what the API server would default,
		// so an untouched one equals what it wants as it is; only one
		// that differs is converted to say how.
		if !equality.Semantic.DeepEqual(p.Spec, live.Spec) {
			w, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(&p.Spec)
			l, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(&live.Spec)
			if err := errors.Join(err1, err2); err != nil {
				bad++
				j.add(Finding{Kind: FindingNetworkPolicy, Status: CheckFail, Object: obj, Managed: true, Message: "cannot compare: " + err.Error()})
				continue
			}
			diffs = equalDiff("spec", w, l)
		}
		for _, key := range sortedKeys(p.Labels) {
			if live.Labels[key] != p.Labels[key] {
				diffs = append(diffs, fieldDiff{Path: "metadata.labels." + key, Want: p.Labels[key], Got: nilIfEmpty(live.Labels[key])})
			}
		}
		if len(diffs) > 0 {
			bad++
			j.add(Finding{Kind: FindingNetworkPolicy, Status: CheckFail, Object: obj, Managed: true,
				Message: "changed: " + describeDiffs(diffs, false), Fix: repairHint(j.st.Name)})
		}
	}
	if bad == 0 {
		j.pass(FindingNetworkPolicy, fmt.Sprintf("urumi's %d NetworkPolicies present and unchanged", len(want)))
	}

	// The self-test runs on every live policy, urumi's and any others. The
	// password reset pod may reach MariaDB once urumi opened it for a reset.
	table, err := StoreIsolationTable(j.st.Name, j.k.routerNamespace(j.opts), j.plan.Egress)
	if err == nil {
		table = withPasswordReset(table, j.resetPoliciesPresent())
	}
	var res IsolationResult
	if err == nil {
		res, err = CheckIsolation(j.objs.policies, table)
	}
	if err != nil {
		j.add(Finding{Kind: FindingIsolation, Status: CheckFail, Message: "the isolation self-test could not run: " + err.Error()})
		return
	}
	// A backup's policies (made by urumi when it first backs the store
	// up, labelled as urumi's) admit only backup pods; the self-test above
	// judged them with the rest.
	// So are a password reset's (made by the first reset).
	for _, name := range []string{backup.PolicyBackupEgress, backup.PolicyMariaDBFromBackup, PolicyPasswordResetEgress, PolicyMariaDBFromPasswordReset} {
		if i := slices.IndexFunc(j.objs.policies, func(l networkingv1.NetworkPolicy) bool { return l.Name == name }); i >= 0 &&
			j.objs.policies[i].Labels[LabelManagedBy] == ManagedBy {
			ours[name] = true
		}
	}
	var extra []string
	for _, p := range j.objs.policies {
		if !ours[p.Name] {
			extra = append(extra, p.Name)
		}
	}
	if res.OK() {
		j.pass(FindingIsolation, fmt.Sprintf("isolation self-test: the live policies answer all %d connections as urumi wants", len(table.Cases)))
	} else {
		var sb strings.Builder
		_ = res.Format(&sb)
		f := Finding{Kind: FindingIsolation, Status: CheckFail, Managed: true, Table: sb.String()}
		var msgs []string
		for i, v := range res.Violations {
			exp, got := "denied", "allowed"
			if v.Allowed {
				exp, got = "allowed", "denied"
			}
			f.Isolation = append(f.Isolation, IsolationRow{From: v.From, To: v.To, Port: portName(v.Protocol, v.Port), Expected: exp, Got: got})
			if i < 3 {
				msgs = append(msgs, fmt.Sprintf("%s → %s on %s: %s, want %s", v.From, v.To, portName(v.Protocol, v.Port), got, exp))
			}
		}
		if len(res.Violations) > 3 {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(res.Violations)-3))
		}
		f.Message = fmt.Sprintf("isolation self-test failed, %d connections differ: %s", len(res.Violations), strings.Join(msgs, "; "))
		f.Fix = "remove the NetworkPolicies that allow more than urumi's, then " + repairHint(j.st.Name)
		if len(extra) > 0 {
			f.Fix = "policies not urumi's: " + strings.Join(extra, ", ") + "; " + f.Fix
		}
		j.add(f)
	}
	for _, name := range extra {
		f := Finding{Kind: FindingExtraPolicy, Object: "NetworkPolicy/" + name,
			Managed: j.objs.policies[slices.IndexFunc(j.objs.policies, func(p networkingv1.NetworkPolicy) bool { return p.Name == name })].Labels[LabelManagedBy] == ManagedBy}
		if res.OK() {
			f.Status = CheckWarn
			f.Message = "a NetworkPolicy urumi did not make; the isolation self-test still passes with it"
			f.Fix = fmt.Sprintf("if it is not needed: `kubectl -n %s delete networkpolicy %s`", j.ns, name)
		} else {
			f.Status = CheckFail
			f.Message = "a NetworkPolicy urumi did not make, present while the isolation self-test fails (see the isolation finding)"
			f.Fix = fmt.Sprintf("unless a person meant it: `kubectl -n %s delete networkpolicy %s`", j.ns, name)
		}
		j.add(f)
	}
	if memo != nil && bad == 0 && res.OK() && len(extra) == 0 {
		memo.policiesPass(j.ns, inputs, len(want), len(table.Cases))
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// resetPoliciesPresent tells whether urumi opened MariaDB to the password
// reset pod: both of its policies are there, labelled as urumi's.
func (j *judgement) resetPoliciesPresent() bool {
	for _, name := range []string{PolicyPasswordResetEgress, PolicyMariaDBFromPasswordReset} {
		i := slices.IndexFunc(j.objs.policies, func(l networkingv1.NetworkPolicy) bool { return l.Name == name })
		if i < 0 || j.objs.policies[i].Labels[LabelManagedBy] != ManagedBy {
			return false
		}
	}
	return true
}

func (j *judgement) credentials() {
	obj := "Secret/" + credentialsName
	i := slices.IndexFunc(j.objs.secrets, func(s corev1.Secret) bool { return s.Name == credentialsName })
	if i < 0 {
		j.add(Finding{Kind: FindingCredentials, Status: CheckFail, Object: obj, Managed: true,
			Message: "the credentials Secret is missing (or lost urumi's labels)",
			Fix:     "restore it from a backup if you have one: new credentials will not open the existing database; otherwise " + repairHint(j.st.Name)})
		return
	}
	var missing []string
	for _, key := range charts.SecretKeys() {
		if len(j.objs.secrets[i].Data[key]) == 0 {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		j.add(Finding{Kind: FindingCredentials, Status: CheckFail, Object: obj, Managed: true,
			Message: "keys missing or empty: " + strings.Join(missing, ", "),
			Fix:     repairHint(j.st.Name) + " (it fills in only the missing keys; a removed database password must be the one the database has)"})
		return
	}
	j.pass(FindingCredentials, "credentials Secret holds every key")
}
