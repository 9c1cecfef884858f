package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// auditCounts are the API requests of one provisioning run, by client and
// by request, read from the API server's audit log (-audit).
type auditCounts struct {
	run    string
	stores int
	total  int
	byReq  map[[2]string]int // {client, "verb resource"}
}

// auditEvent is the part of an audit.k8s.io/v1 Event the counts need.
type auditEvent struct {
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	User      struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	RequestURI string `json:"requestURI"`
}

// auditOffset is how far the audit log has been written: a run counts the
// lines after it.
func auditOffset(path string) (int64, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// countAudit reads the audit log from offset on.
func countAudit(path string, offset int64, run string, stores int) (auditCounts, error) {
	c := auditCounts{run: run, stores: stores, byReq: map[[2]string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return c, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		req := e.Verb + " " + e.RequestURI
		if r := e.ObjectRef; r != nil {
			req = e.Verb + " " + r.Resource
			if r.Subresource != "" {
				req += "/" + r.Subresource
			}
		} else if i := strings.IndexByte(req, '?'); i > 0 {
			req = req[:i]
		}
		c.byReq[[2]string{auditClient(e), req}]++
		c.total++
	}
	return c, sc.Err()
}

// auditClient names the client of a request: the controller for the
// controller manager's service accounts, else the program of the user agent.
func auditClient(e auditEvent) string {
	if sa, ok := strings.CutPrefix(e.User.Username, "system:serviceaccount:kube-system:"); ok {
		return sa
	}
	ua, _, _ := strings.Cut(e.UserAgent, " ")
	ua, _, _ = strings.Cut(ua, "/")
	if ua == "" {
		ua = e.User.Username
	}
	return ua
}

// printAudit prints requests per store, by client and then by request,
// largest first.
func printAudit(w io.Writer, runs []auditCounts, top int) error {
	for _, r := range runs {
		per := func(n int) float64 { return float64(n) / float64(r.stores) }
		clients := map[string]int{}
		for k, n := range r.byReq {
			clients[k[0]] += n
		}
		fmt.Fprintf(w, "\nAPI REQUESTS PER STORE, %s: %.1f in all\n", r.run, per(r.total))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range sortedByCount(clients) {
			fmt.Fprintf(tw, "  %s\t%.1f\n", c.key, per(c.n))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "the %d most frequent requests:\n", top)
		reqs := map[string]int{}
		for k, n := range r.byReq {
			reqs[k[0]+"\t"+k[1]] += n
		}
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i, c := range sortedByCount(reqs) {
			if i == top {
				break
			}
			fmt.Fprintf(tw, "  %s\t%.1f\n", c.key, per(c.n))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

type keyCount struct {
	key string
	n   int
}

func sortedByCount(m map[string]int) []keyCount {
	out := make([]keyCount, 0, len(m))
	for k, n := range m {
		out = append(out, keyCount{k, n})
	}
	slices.SortFunc(out, func(a, b keyCount) int {
		return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.key, b.key))
	})
	return out
}
