package simcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A PodStartup is a model of how long a store's pods take to become Ready
// once they are placed on a node: on a real cluster, image pulls and first
// boots (WordPress copying its files, MariaDB initialising its data
// directory) take seconds to tens of seconds; kwok, the simulated kubelet,
// makes pods Ready at once. With a model, kwok holds pods carrying the
// store chart's component label un-ready for a jittered delay, so that
// benchmarks measure provisioning with waits of a realistic shape. It is a
// model, not a measurement of any cluster: the defaults are round figures
// of the right order, and every figure a benchmark prints under a model
// says which.
//
// Pods are selected by the label app.kubernetes.io/component (the store
// chart's charts.LabelComponent); pods without one of the modelled values
// become Ready at once, as without a model. Job pods (setup, cron) are
// held before they run; they complete as soon as they are running.
type PodStartup struct {
	// Delays maps a component label value to its delay.
	Delays map[string]Delay
}

// A Delay is Base ± Jitter, drawn uniformly for each pod.
type Delay struct {
	Base, Jitter time.Duration
}

func (d Delay) String() string {
	if d.Jitter == 0 {
		return d.Base.String()
	}
	return d.Base.String() + "±" + d.Jitter.String()
}

// The store chart's component label and the components the model delays.
// (The label name is charts.LabelComponent; simcluster does not import the
// charts package, whose tests need a cluster.)
const componentLabel = "app.kubernetes.io/component"

var modelledComponents = []string{"wordpress", "mariadb", "setup", "cron"}

// DefaultPodStartup is the model used when one is asked for without
// figures: WordPress 20 s, MariaDB 10 s, the setup job and the cron jobs
// 15 s, each ± a quarter.
func DefaultPodStartup() *PodStartup {
	return &PodStartup{Delays: map[string]Delay{
		"wordpress": {20 * time.Second, 5 * time.Second},
		"mariadb":   {10 * time.Second, 2500 * time.Millisecond},
		"setup":     {15 * time.Second, 3750 * time.Millisecond},
		"cron":      {15 * time.Second, 3750 * time.Millisecond},
	}}
}

// PodStartupUsage is the help text of the flag commands read a model from
// (with ParsePodStartup).
const PodStartupUsage = "pod start-up model of the simulated cluster: off, default (wordpress 20s±5s, mariadb 10s±2.5s, setup and cron 15s±3.75s), one delay for all (3s±1s), or per component (wordpress=20s±5s,mariadb=10s)"

// ParsePodStartup reads a model from its flag form:
//
//	""  or "off"                  no model: pods are Ready at once
//	"default"                     DefaultPodStartup
//	"3s±1s" (or "3s+-1s")         the same delay for every modelled component
//	"wordpress=20s±5s,mariadb=10s"  per component; components not named are
//	                              not delayed
func ParsePodStartup(s string) (*PodStartup, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "off", "none":
		return nil, nil
	case "default", "on":
		return DefaultPodStartup(), nil
	}
	m := &PodStartup{Delays: map[string]Delay{}}
	if !strings.Contains(s, "=") {
		d, err := parseDelay(s)
		if err != nil {
			return nil, err
		}
		for _, c := range modelledComponents {
			m.Delays[c] = d
		}
		return m, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("pod start-up model %q: %q is not component=delay", s, part)
		}
		if !slices.Contains(modelledComponents, name) {
			return nil, fmt.Errorf("pod start-up model %q: unknown component %q: use %s", s, name, strings.Join(modelledComponents, ", "))
		}
		d, err := parseDelay(val)
		if err != nil {
			return nil, err
		}
		m.Delays[name] = d
	}
	return m, nil
}

func parseDelay(s string) (Delay, error) {
	base, jitter, hasJitter := strings.Cut(s, "±")
	if !hasJitter {
		base, jitter, hasJitter = strings.Cut(s, "+-")
	}
	var d Delay
	var err error
	if d.Base, err = time.ParseDuration(strings.TrimSpace(base)); err != nil {
		return Delay{}, fmt.Errorf("pod start-up delay %q: %w (write it as 20s or 20s±5s)", s, err)
	}
	if hasJitter {
		if d.Jitter, err = time.ParseDuration(strings.TrimSpace(jitter)); err != nil {
			return Delay{}, fmt.Errorf("pod start-up delay %q: %w (write it as 20s or 20s±5s)", s, err)
		}
	}
	if d.Base < 0 || d.Jitter < 0 || d.Jitter > d.Base {
		return Delay{}, fmt.Errorf("pod start-up delay %q: need 0 ≤ jitter ≤ delay", s)
	}
	return d, nil
}

// String describes the model for a benchmark's output; a nil model reads
// "none (pods Ready at once)".
func (m *PodStartup) String() string {
	if m == nil || len(m.Delays) == 0 {
		return "none (pods Ready at once)"
	}
	var parts []string
	for _, c := range modelledComponents {
		if d, ok := m.Delays[c]; ok {
			parts = append(parts, c+" "+d.String())
		}
	}
	return strings.Join(parts, ", ")
}

// writeStages writes kwok's pod stages for the model to a file in dir and
// returns its path. kwok uses the pod stages of its configuration instead
// of its defaults, so the file holds all of them: the default "pod-ready"
// restricted to pods the model does not delay, one delayed copy of it per
// modelled component, and kwok's default "pod-complete" and "pod-delete"
// unchanged (kwok v0.7.0's kustomize/stage/pod/fast).
func (m *PodStartup) writeStages(dir string) (string, error) {
	var b strings.Builder
	components := make([]string, 0, len(m.Delays))
	for _, c := range modelledComponents {
		if _, ok := m.Delays[c]; ok {
			components = append(components, c)
		}
	}
	quoted := make([]string, len(components))
	for i, c := range components {
		quoted[i] = "      - " + strconv.Quote(c)
	}
	// Pods the model does not hold: as kwok's default.
	b.WriteString(podReadyStage("pod-ready", "", "", "    - key: '.metadata.labels[\""+componentLabel+"\"]'\n      operator: 'NotIn'\n      values:\n"+strings.Join(quoted, "\n")+"\n"))
	for _, c := range components {
		d := m.Delays[c]
		lo, hi := d.Base-d.Jitter, d.Base+d.Jitter
		// kwok draws the delay uniformly between durationMilliseconds
		// and jitterDurationMilliseconds.
		delay := fmt.Sprintf("  delay:\n    durationMilliseconds: %d\n    jitterDurationMilliseconds: %d\n", lo.Milliseconds(), hi.Milliseconds())
		labels := fmt.Sprintf("    matchLabels:\n      %s: %s\n", strconv.Quote(componentLabel), strconv.Quote(c))
		b.WriteString("---\n")
		b.WriteString(podReadyStage("pod-ready-"+c, labels, delay, ""))
	}
	b.WriteString("---\n" + podCompleteStage + "---\n" + podDeleteStage)
	path := filepath.Join(dir, "kwok-pod-stages.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write kwok's pod stages: %w", err)
	}
	return path, nil
}

// podReadyStage is kwok's default pod-ready stage with extra selectors and
// a delay.
func podReadyStage(name, matchLabels, delay, extraExpressions string) string {
	return `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ` + name + `
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
` + matchLabels + `    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
` + extraExpressions + delay + `  next:
    statusTemplate: |
      {{ $now := Now }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}

      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}

      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq .restartPolicy "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}

      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
`
}

// kwok v0.7.0's default pod-complete stage (kustomize/stage/pod/fast).
const podCompleteStage = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values:
      - 'Job'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
`

// kwok v0.7.0's default pod-delete stage.
const podDeleteStage = `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    finalizers:
      empty: true
    delete: true
`
