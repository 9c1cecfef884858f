package simcluster

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

func TestParsePodStartup(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    map[string]Delay
		wantErr string
	}{
		{in: "", want: nil},
		{in: "off", want: nil},
		{in: "default", want: DefaultPodStartup().Delays},
		{in: "3s±1s", want: map[string]Delay{"wordpress": {3 * time.Second, time.Second}, "mariadb": {3 * time.Second, time.Second}, "setup": {3 * time.Second, time.Second}, "cron": {3 * time.Second, time.Second}}},
		{in: "wordpress=20s+-5s, mariadb=10s", want: map[string]Delay{"wordpress": {20 * time.Second, 5 * time.Second}, "mariadb": {10 * time.Second, 0}}},
		{in: "nginx=3s", wantErr: "unknown component"},
		{in: "3s±4s", wantErr: "jitter"},
		{in: "soon", wantErr: "20s±5s"},
		{in: "wordpress", wantErr: "20s±5s"},
	} {
		m, err := ParsePodStartup(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePodStartup(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePodStartup(%q): %v", tc.in, err)
			continue
		}
		var got map[string]Delay
		if m != nil {
			got = m.Delays
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParsePodStartup(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("ParsePodStartup(%q)[%s] = %v, want %v", tc.in, k, got[k], v)
			}
		}
	}
	if s := (*PodStartup)(nil).String(); !strings.Contains(s, "none") {
		t.Errorf("nil model reads %q", s)
	}
	if s := DefaultPodStartup().String(); s != "wordpress 20s±5s, mariadb 10s±2.5s, setup 15s±3.75s, cron 15s±3.75s" {
		t.Errorf("default model reads %q", s)
	}
}

// TestPodStagesParse checks the stage file is well-formed YAML whose stages
// say what the model says (kwok itself reads it in TestPodStartupModel).
func TestPodStagesParse(t *testing.T) {
	m, _ := ParsePodStartup("wordpress=3s±1s,cron=5s")
	path, err := m.writeStages(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type stage struct {
		Metadata struct{ Name string }
		Spec     struct {
			Selector struct {
				MatchLabels      map[string]string `json:"matchLabels"`
				MatchExpressions []struct {
					Key      string
					Operator string
					Values   []string
				} `json:"matchExpressions"`
			}
			Delay *struct {
				Duration int64 `json:"durationMilliseconds"`
				Jitter   int64 `json:"jitterDurationMilliseconds"`
			}
		}
	}
	got := map[string]stage{}
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		var s stage
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatalf("stage does not parse: %v\n%s", err, doc)
		}
		got[s.Metadata.Name] = s
	}
	for _, name := range []string{"pod-ready", "pod-ready-wordpress", "pod-ready-cron", "pod-complete", "pod-delete"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no stage %s in %v", name, got)
		}
	}
	if d := got["pod-ready-wordpress"].Spec.Delay; d == nil || d.Duration != 2000 || d.Jitter != 4000 {
		t.Errorf("wordpress delay = %+v, want 2000..4000 ms", d)
	}
	if l := got["pod-ready-cron"].Spec.Selector.MatchLabels[componentLabel]; l != "cron" {
		t.Errorf("cron stage selects %v", got["pod-ready-cron"].Spec.Selector.MatchLabels)
	}
	exprs := got["pod-ready"].Spec.Selector.MatchExpressions
	last := exprs[len(exprs)-1]
	if last.Operator != "NotIn" || strings.Join(last.Values, ",") != "wordpress,cron" || !strings.Contains(last.Key, componentLabel) {
		t.Errorf("undelayed pod-ready stage does not exclude the modelled components: %+v", last)
	}
	if got["pod-ready"].Spec.Delay != nil {
		t.Error("the undelayed pod-ready stage has a delay")
	}
}

// TestPodStartupModel starts a cluster with a 5 s ± 1 s model and checks
// that pods labelled as WordPress and cron become Ready no sooner than 4 s
// after they are created, and that an unlabelled pod is not held. The upper
// bounds are generous: the machine may be loaded.
func TestPodStartupModel(t *testing.T) {
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if m := MissingBinaries(dir); len(m) > 0 && os.Getenv("CI") != "true" {
		t.Skipf("simulated cluster binaries missing (%s); build them with: make cluster-build", strings.Join(m, ", "))
	}
	model, err := ParsePodStartup("5s±1s")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{BinDir: dir, Nodes: 1, PodStartup: model, Logs: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}

	pods := map[string]map[string]string{
		"plain":     nil,
		"other":     {componentLabel: "nginx"},
		"wordpress": {componentLabel: "wordpress"},
		"cron":      {componentLabel: "cron"},
	}
	took := map[string]time.Duration{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, labels := range pods {
		wg.Go(func() {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c"}}},
			}
			start := time.Now()
			if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Errorf("create pod %s: %v", name, err)
				return
			}
			for ctx.Err() == nil {
				p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
				if err == nil && podReady(p) {
					mu.Lock()
					took[name] = time.Since(start)
					mu.Unlock()
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Errorf("pod %s not Ready within the test's time", name)
		})
	}
	wg.Wait()
	t.Logf("time to Ready: %v", took)
	for _, name := range []string{"wordpress", "cron"} {
		// The delay starts when kwok sees the pod on its node, after the
		// pod was created: it cannot be shorter than the model's minimum.
		if d := took[name]; d < 4*time.Second || d > 90*time.Second {
			t.Errorf("pod %s Ready after %s, want between 4 s (the model's minimum) and 90 s", name, d)
		}
	}
	for _, name := range []string{"plain", "other"} {
		if d := took[name]; d >= 4*time.Second || d >= took["wordpress"] {
			t.Errorf("unmodelled pod %s Ready after %s (wordpress: %s): it was held", name, d, took["wordpress"])
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
