package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/urumi/urumi/charts"
)

// The release and what it runs: the last revision deployed (at the
// revision urumi recorded), each object of its manifest as the chart set
// it, its workloads ready, its Jobs complete, its claims bound.

func (j *judgement) release(ctx context.Context) {
	var last *helmRecord
	for i := range j.objs.helm {
		r := &j.objs.helm[i]
		if r.Name == releaseName && (last == nil || r.Version > last.Version) {
			last = r
		}
	}
	if last == nil {
		j.add(Finding{Kind: FindingRelease, Status: CheckFail, Object: "Release/" + releaseName, Managed: true,
			Message: "the store's Helm release is missing", Fix: repairHint(j.st.Name)})
		return
	}
	obj := fmt.Sprintf("Release/%s (revision %d)", releaseName, last.Version)
	switch status := last.Status; {
	case strings.HasPrefix(status, "pending-"):
		j.add(Finding{Kind: FindingRelease, Status: CheckFail, Object: obj, Managed: true,
			Message: fmt.Sprintf("the last revision is %s: an operation on it did not finish", status),
			Fix:     fmt.Sprintf("if no urumi operation on the store is running, `urumi store retry %s` takes it over", j.st.Name)})
	case status != "deployed":
		j.add(Finding{Kind: FindingRelease, Status: CheckFail, Object: obj, Managed: true,
			Message: fmt.Sprintf("the last revision is %s, not deployed", status), Fix: repairHint(j.st.Name)})
	default:
		if rec := recordedRevision(j.st); rec != 0 && rec != last.Version {
			j.add(Finding{Kind: FindingRelease, Status: CheckFail, Object: obj, Managed: true,
				Message: fmt.Sprintf("deployed at revision %d, but urumi recorded revision %d: someone changed the release outside urumi", last.Version, rec),
				Fix:     repairHint(j.st.Name)})
		} else {
			j.pass(FindingRelease, fmt.Sprintf("release deployed at revision %d", last.Version))
		}
	}
	items, err := j.releaseItems(last)
	if err != nil {
		j.add(Finding{Kind: FindingReleaseObject, Status: CheckFail, Object: obj, Message: err.Error()})
		return
	}
	j.chart = map[string]bool{}
	drifted := 0
	objs := make([]releaseObject, 0, len(items))
	for _, it := range items {
		o := it.obj
		objs = append(objs, o)
		name := o.gk.Kind + "/" + o.name
		j.chart[name] = true
		diffs := it.diffs
		if !it.known {
			live, err := j.snap.live(ctx, o.gk, j.nsOf(o), o.name)
			if err != nil {
				drifted++
				j.add(Finding{Kind: FindingReleaseObject, Status: CheckFail, Object: name, Managed: true, Message: "cannot read it: " + err.Error()})
				continue
			}
			if live == nil {
				drifted++
				j.add(Finding{Kind: FindingReleaseObject, Status: CheckFail, Object: name, Managed: true,
					Message: "the chart's object is missing", Fix: repairHint(j.st.Name)})
				continue
			}
			diffs = manifestDiff(it.want, live)
			if it.memo {
				l := unstructured.Unstructured{Object: live}
				j.snap.memo.put(it.key, newDiffMemoEntry(o, j.snap.memo.liveID(l.GetUID(), l.GetResourceVersion()), diffs))
			}
		}
		if len(diffs) > 0 {
			drifted++
			j.add(Finding{Kind: FindingReleaseObject, Status: CheckFail, Object: name, Managed: true,
				Message: "changed since the chart set it: " + describeDiffs(diffs, o.gk.Kind == "Secret"), Fix: repairHint(j.st.Name)})
		}
	}
	if drifted == 0 {
		j.pass(FindingReleaseObject, fmt.Sprintf("all %d objects of revision %d as the chart set them", len(objs), last.Version))
	}
	j.workloads(objs)
}

// releaseItem is one object of the release's manifest to compare with
// the live one: the object as the manifest has it (want), or what the
// comparison found when neither changed since it was last made (known,
// from the snapshot's memo).
type releaseItem struct {
	obj   releaseObject
	want  map[string]any
	known bool
	diffs []fieldDiff
	// memo: the comparison may be remembered, under key.
	memo bool
	key  uint64
}

// releaseItems are the objects of the record's manifest. Those of a
// record in the reconciler's cache whose comparison the memo holds, with
// their live objects unchanged, are not decoded.
func (j *judgement) releaseItems(last *helmRecord) ([]releaseItem, error) {
	c, memo := last.compact, j.snap.memo
	if c == nil || memo == nil {
		objs, err := last.objects()
		if err != nil {
			return nil, err
		}
		items := make([]releaseItem, 0, len(objs))
		for _, o := range objs {
			items = append(items, releaseItem{obj: releaseObjectOf(o), want: o.Object})
		}
		return items, nil
	}
	live := func(o releaseObject) metav1.Object { return j.snap.liveObject(o.gk, j.nsOf(o), o.name) }
	items := make([]releaseItem, 0, len(c.parts))
	for i, p := range c.parts {
		doc, err := undelta(p.data, p.ref)
		if err == nil {
			key := memo.key(j.ns, doc)
			if e, ok := memo.get(key, live); ok {
				items = append(items, releaseItem{obj: e.obj.Value(), known: true, diffs: e.differences()})
				continue
			}
			var m map[string]any
			if m, err = manifestDocObject(doc); err == nil {
				if len(m) == 0 {
					continue
				}
				o := releaseObjectOf(&unstructured.Unstructured{Object: m})
				items = append(items, releaseItem{obj: o, want: m, memo: live(o) != nil, key: key})
				continue
			}
		}
		return nil, fmt.Errorf("decode Helm release record %s: document %d of the cached manifest: %w", c.Name, i+1, err)
	}
	return items, nil
}

// nsOf is the namespace of an object of the release.
func (j *judgement) nsOf(o releaseObject) string {
	if o.ns == "" {
		return j.ns
	}
	return o.ns
}

// manifestDiff compares an object of a release manifest with the live
// one: labels, annotations and every other top-level field the chart set
// (spec, data, ...), as a subset.
func manifestDiff(want, live map[string]any) []fieldDiff {
	var diffs []fieldDiff
	wm, _ := want["metadata"].(map[string]any)
	lm, _ := live["metadata"].(map[string]any)
	for _, key := range []string{"labels", "annotations"} {
		diffs = append(diffs, subsetDiff("metadata."+key, wm[key], lm[key])...)
	}
	for _, key := range sortedAnyKeys(want) {
		switch key {
		case "apiVersion", "kind", "metadata", "status":
			continue
		}
		lv, ok := live[key]
		if !ok {
			if !isEmpty(want[key]) {
				diffs = append(diffs, fieldDiff{Path: key, Want: want[key]})
			}
			continue
		}
		diffs = append(diffs, subsetDiff(key, want[key], lv)...)
	}
	return diffs
}

// workloads checks that what the chart runs is up: Deployments and
// StatefulSets with every replica the chart asked for ready, Jobs
// complete, claims bound.
func (j *judgement) workloads(objs []releaseObject) {
	bad := 0
	checked := 0
	for _, o := range objs {
		gk, name := o.gk, o.name
		switch gk {
		case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
			checked++
			i := slices.IndexFunc(j.objs.deployments, func(d appsv1.Deployment) bool { return d.Name == name })
			if i < 0 {
				continue // reported as missing above
			}
			d := j.objs.deployments[i]
			if msg, health := replicasProblem(o.replicas, d.Spec.Replicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas); msg != "" {
				bad++
				j.add(Finding{Kind: FindingWorkload, Status: CheckFail, Object: "Deployment/" + name, Managed: true, Message: msg, Fix: j.workloadFix(), health: health})
			}
		case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
			checked++
			i := slices.IndexFunc(j.objs.statefulSets, func(s appsv1.StatefulSet) bool { return s.Name == name })
			if i < 0 {
				continue
			}
			s := j.objs.statefulSets[i]
			if msg, health := replicasProblem(o.replicas, s.Spec.Replicas, s.Status.ReadyReplicas, s.Status.AvailableReplicas); msg != "" {
				bad++
				j.add(Finding{Kind: FindingWorkload, Status: CheckFail, Object: "StatefulSet/" + name, Managed: true, Message: msg, Fix: j.workloadFix(), health: health})
			}
		case schema.GroupKind{Group: "batch", Kind: "Job"}:
			i := slices.IndexFunc(j.objs.jobs, func(x batchv1.Job) bool { return x.Name == name })
			if i < 0 {
				continue
			}
			switch jobState(&j.objs.jobs[i]) {
			case "complete":
				j.pass(FindingSetupJob, "Job/"+name+" complete")
			case "failed":
				j.add(Finding{Kind: FindingSetupJob, Status: CheckFail, Object: "Job/" + name, Managed: true,
					Message: "the Job failed", Fix: fmt.Sprintf("read its logs (`kubectl -n %s logs job/%s`), then %s", j.ns, name, repairHint(j.st.Name))})
			default:
				j.add(Finding{Kind: FindingSetupJob, Status: CheckWarn, Object: "Job/" + name, Managed: true,
					Message: "the Job has not completed yet", Fix: "wait, then check again"})
			}
		}
	}
	if checked > 0 && bad == 0 {
		j.pass(FindingWorkload, fmt.Sprintf("%d workloads ready", checked))
	}
	pending := 0
	for _, c := range j.objs.claims {
		if c.Status.Phase != corev1.ClaimBound {
			pending++
			j.add(Finding{Kind: FindingClaim, Status: CheckFail, Object: "PersistentVolumeClaim/" + c.Name, Managed: true,
				Message: fmt.Sprintf("the claim is %s, not Bound", c.Status.Phase),
				Fix:     "check the storage class and its provisioner (`urumi doctor`)", health: true})
		}
	}
	if pending == 0 && len(j.objs.claims) > 0 {
		j.pass(FindingClaim, fmt.Sprintf("%d claims bound", len(j.objs.claims)))
	}
}

func (j *judgement) workloadFix() string {
	return fmt.Sprintf("%s (it sets the replicas back); if pods do not start, `kubectl -n %s describe pods` says why", repairHint(j.st.Name), j.ns)
}

// replicasProblem says what is wrong with a workload the chart wants
// with want replicas, or "", and whether it is health alone (replicas
// not ready) rather than a change.
func replicasProblem(want int64, spec *int32, ready, available int32) (string, bool) {
	live := int64(1)
	if spec != nil {
		live = int64(*spec)
	}
	switch {
	case live != want:
		return fmt.Sprintf("scaled to %d, the chart wants %d", live, want), false
	case int64(ready) < want || int64(available) < want:
		return fmt.Sprintf("%d of %d replicas ready", min(ready, available), want), true
	}
	return "", false
}

func jobState(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return "complete"
		case batchv1.JobFailed:
			return "failed"
		}
	}
	return "running"
}

// access looks for what widens access to the store: RoleBindings,
// Services reachable from outside the cluster's network, and pods not run
// by the chart's workloads. (Extra NetworkPolicies are judged with the
// isolation self-test.)
func (j *judgement) access() {
	found := 0
	for _, rb := range j.objs.roleBindings {
		found++
		j.add(Finding{Kind: FindingRoleBinding, Status: CheckFail, Object: "RoleBinding/" + rb.Name,
			Managed: rb.Labels[LabelManagedBy] == ManagedBy,
			Message: fmt.Sprintf("grants %s %s to %s: urumi grants nothing in a store's namespace", rb.RoleRef.Kind, rb.RoleRef.Name, subjects(rb.Subjects)),
			Fix:     fmt.Sprintf("unless a person meant it: `kubectl -n %s delete rolebinding %s`", j.ns, rb.Name)})
	}
	for _, s := range j.objs.services {
		if s.Spec.Type != corev1.ServiceTypeNodePort && s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		found++
		managed := j.chart["Service/"+s.Name]
		fix := fmt.Sprintf("unless a person meant it: `kubectl -n %s delete service %s`", j.ns, s.Name)
		if managed {
			fix = repairHint(j.st.Name) + " (the chart's Service is ClusterIP)"
		}
		j.add(Finding{Kind: FindingExposedService, Status: CheckFail, Object: "Service/" + s.Name, Managed: managed,
			Message: fmt.Sprintf("type %s exposes the store outside the ingress controller and its network policies", s.Spec.Type), Fix: fix})
	}
	// Pods belong to the chart when their controller chain ends at one of
	// its workloads.
	rsOwner := map[string]string{}
	for _, rs := range j.objs.replicaSets {
		if ref := metav1.GetControllerOf(&rs); ref != nil {
			rsOwner[rs.Name] = ref.Kind + "/" + ref.Name
		}
	}
	jobOwner := map[string]string{}
	// urumi's own Jobs (a password reset) run pods urumi made.
	urumiJob := map[string]bool{}
	for _, jb := range j.objs.jobs {
		if ref := metav1.GetControllerOf(&jb); ref != nil {
			jobOwner[jb.Name] = ref.Kind + "/" + ref.Name
		}
		if isPasswordResetJob(&jb) {
			urumiJob[jb.Name] = true
		}
	}
	for _, p := range j.objs.pods {
		workload := ""
		if ref := metav1.GetControllerOf(&p); ref != nil {
			workload = ref.Kind + "/" + ref.Name
			switch ref.Kind {
			case "ReplicaSet":
				workload = rsOwner[ref.Name]
			case "Job":
				if urumiJob[ref.Name] && p.Labels[charts.LabelComponent] == ComponentPasswordReset {
					continue
				}
				if !j.chart[workload] && jobOwner[ref.Name] != "" {
					workload = jobOwner[ref.Name] // a CronJob's
				}
			}
		}
		if workload != "" && j.chart[workload] {
			continue
		}
		found++
		status := CheckFail
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			status = CheckWarn
		}
		from := "no controller"
		if workload != "" {
			from = workload
		}
		j.add(Finding{Kind: FindingStrayPod, Status: status, Object: "Pod/" + p.Name,
			Message: fmt.Sprintf("a pod not run by the chart's workloads (%s), inside the store's network", from),
			Fix:     fmt.Sprintf("unless a person meant it: `kubectl -n %s delete pod %s`", j.ns, p.Name)})
	}
	if found == 0 {
		j.pass(FindingStrayPod, "no RoleBinding, exposed Service or stray pod widens access")
	}
}

func subjects(ss []rbacv1.Subject) string {
	var out []string
	for _, s := range ss {
		n := s.Kind + " " + s.Name
		if s.Namespace != "" {
			n = s.Kind + " " + s.Namespace + "/" + s.Name
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return "nobody"
	}
	return strings.Join(out, ", ")
}
