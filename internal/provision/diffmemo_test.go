package provision

import (
	"context"
	"fmt"
	"slices"
	"testing"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestJudgeDiffMemo: judged from the reconciler's cache, a store's release
// objects are compared again only when the record's document or the live
// object changed; what the judge finds is what it finds without the memo.
func TestJudgeDiffMemo(t *testing.T) {
	ctx := context.Background()
	k, snap, st := fakeStore(t)
	ns := Namespace(st.Name)
	o := snap.byNS[ns]
	// The record as the cache keeps it, and live objects with the uid and
	// resourceVersion the API server gives them.
	s := helmSecret(t, ns, 1, rcommon.StatusDeployed, testManifest, true)
	c, ok := newManifestDict().compact(&s).(*compactRecord)
	if !ok {
		t.Fatal("the test record is not compacted")
	}
	rec, _ := c.record()
	o.helm = []helmRecord{rec}
	o.services[0].UID, o.services[0].ResourceVersion = types.UID("svc"), "10"
	o.deployments[0].UID, o.deployments[0].ResourceVersion = types.UID("dep"), "11"
	o.jobs[0].UID, o.jobs[0].ResourceVersion = types.UID("job"), "12"
	snap.memo = newDiffMemo()

	judge := func() []string {
		t.Helper()
		memo := snap.memo
		snap.memo = nil
		without := failures(k.judge(ctx, snap, st))
		snap.memo = memo
		with := failures(k.judge(ctx, snap, st))
		if !slices.Equal(with, without) {
			t.Fatalf("with the memo the judge finds %v, without %v", with, without)
		}
		return with
	}
	if got := judge(); len(got) != 0 {
		t.Fatalf("a healthy store: %v", got)
	}
	if n := len(snap.memo.gens.cur); n != 3 {
		t.Fatalf("memo holds %d comparisons, want the 3 objects of the manifest", n)
	}
	if got := judge(); len(got) != 0 {
		t.Fatalf("a healthy store judged again: %v", got)
	}

	// The memo is used: a change the judge cannot see without a new
	// resourceVersion (the API server never makes one) is not compared.
	image := o.deployments[0].Spec.Template.Spec.Containers[0].Image
	o.deployments[0].Spec.Template.Spec.Containers[0].Image = "registry.example.com/other"
	if got := failures(k.judge(ctx, snap, st)); len(got) != 0 {
		t.Fatalf("the Deployment was compared again with its resourceVersion unchanged: %v", got)
	}
	// A new resourceVersion: compared again, and the drift found, with the
	// memo as without.
	o.deployments[0].ResourceVersion = "13"
	if got := judge(); !slices.Contains(got, "release-object Deployment/wordpress") {
		t.Fatalf("a changed Deployment: %v", got)
	}
	// And remembered, drift and all.
	if got := failures(k.judge(ctx, snap, st)); !slices.Contains(got, "release-object Deployment/wordpress") {
		t.Fatalf("a changed Deployment judged again: %v", got)
	}
	// Another object with the same name and resourceVersion (deleted and
	// made again): compared again.
	o.deployments[0].Spec.Template.Spec.Containers[0].Image = image
	o.deployments[0].UID = "dep-2"
	if got := judge(); len(got) != 0 {
		t.Fatalf("the Deployment made again as the chart sets it: %v", got)
	}
	// A missing object is not remembered as present.
	deps := o.deployments
	o.deployments = nil
	if got := judge(); !slices.Contains(got, "release-object Deployment/wordpress") {
		t.Fatalf("a deleted Deployment: %v", got)
	}
	o.deployments = deps

	// An object whose resourceVersion is not known is compared each time.
	o.services[0].ResourceVersion = ""
	if got := judge(); len(got) != 0 {
		t.Fatalf("a Service without resourceVersion: %v", got)
	}
	selector := o.services[0].Spec.Selector
	o.services[0].Spec.Selector = map[string]string{"app": "elsewhere"}
	if got := failures(k.judge(ctx, snap, st)); !slices.Contains(got, "release-object Service/wordpress") {
		t.Fatalf("a changed Service without resourceVersion: %v", got)
	}
	o.services[0].Spec.Selector, o.services[0].ResourceVersion = selector, "10"

	// The policies and the isolation self-test: judged again only when a
	// live policy or what urumi wants of them changed.
	for i := range o.policies {
		o.policies[i].UID, o.policies[i].ResourceVersion = types.UID(fmt.Sprint("np", i)), "20"
	}
	if got := judge(); len(got) != 0 {
		t.Fatalf("policies with uids: %v", got)
	}
	if _, ok := snap.memo.policies[ns]; !ok {
		t.Fatal("the policies' pass is not remembered")
	}
	ingress := o.policies[0].Spec.Ingress
	o.policies[0].Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}} // from anywhere
	if got := failures(k.judge(ctx, snap, st)); len(got) != 0 {
		t.Fatalf("a policy was judged again with its resourceVersion unchanged: %v", got)
	}
	o.policies[0].ResourceVersion = "21"
	if got := judge(); !slices.Contains(got, "network-policy NetworkPolicy/"+o.policies[0].Name) {
		t.Fatalf("a policy opened to anywhere: %v", got)
	}
	o.policies[0].Spec.Ingress, o.policies[0].ResourceVersion = ingress, "22"
	if got := judge(); len(got) != 0 {
		t.Fatalf("the policy mended: %v", got)
	}
	owner := st.Owner
	st.Owner = "bob" // urumi wants other labels
	if got := judge(); len(got) == 0 {
		t.Fatal("policies labelled for another owner pass")
	}
	st.Owner = owner

	// A new record (an upgrade): its documents are compared, not the
	// old record's findings reused.
	upgraded := helmSecret(t, ns, 2, rcommon.StatusDeployed, testManifest+"\n---\n"+testExtraConfigMap, true)
	c2, ok := newManifestDict().compact(&upgraded).(*compactRecord)
	if !ok {
		t.Fatal("the upgraded record is not compacted")
	}
	rec2, _ := c2.record()
	o.helm = []helmRecord{rec2}
	st.Release.Revision = 2
	if got := judge(); !slices.Contains(got, "release-object ConfigMap/extra") {
		t.Fatalf("the upgrade's new ConfigMap, missing: %v", got)
	}
}

const testExtraConfigMap = `# Source: woocommerce-store/templates/extra.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
data:
  a: b
`
