package harness

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

// AuditCounts are the API requests of one provisioning run, by client and
// by request, read from the API server's audit log (-audit).
type AuditCounts struct {
	Run    string
	Stores int
	Total  int
	ByReq  map[[2]string]int // {client, "verb resource"}
}

// TopRequests are client's n most frequent requests, largest first.
func (c AuditCounts) TopRequests(client string, n int) []KeyCount {
	reqs := map[string]int{}
	for k, v := range c.ByReq {
		if k[0] == client {
			reqs[k[1]] += v
		}
	}
	top := sortedByCount(reqs)
	return top[:min(n, len(top))]
}

// Client is how many requests client made, in all.
func (c AuditCounts) Client(client string) int {
	n := 0
	for k, v := range c.ByReq {
		if k[0] == client {
			n += v
		}
	}
	return n
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

// AuditOffset is how far the audit log has been written: a run counts the
// lines after it.
func AuditOffset(path string) (int64, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// CountAudit reads the audit log from offset on.
func CountAudit(path string, offset int64, run string, stores int) (AuditCounts, error) {
	c := AuditCounts{Run: run, Stores: stores, ByReq: map[[2]string]int{}}
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
		c.ByReq[[2]string{auditClient(e), req}]++
		c.Total++
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

// PrintAudit prints requests per store, by client and then by request,
// largest first.
func PrintAudit(w io.Writer, runs []AuditCounts, top int) error {
	for _, r := range runs {
		per := func(n int) float64 { return float64(n) / float64(r.Stores) }
		clients := map[string]int{}
		for k, n := range r.ByReq {
			clients[k[0]] += n
		}
		fmt.Fprintf(w, "\nAPI REQUESTS PER STORE, %s: %.1f in all\n", r.Run, per(r.Total))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range sortedByCount(clients) {
			fmt.Fprintf(tw, "  %s\t%.1f\n", c.Key, per(c.N))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "the %d most frequent requests:\n", top)
		reqs := map[string]int{}
		for k, n := range r.ByReq {
			reqs[k[0]+"\t"+k[1]] += n
		}
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i, c := range sortedByCount(reqs) {
			if i == top {
				break
			}
			fmt.Fprintf(tw, "  %s\t%.1f\n", c.Key, per(c.N))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// KeyCount is a request (or client) and how often it was made.
type KeyCount struct {
	Key string
	N   int
}

func sortedByCount(m map[string]int) []KeyCount {
	out := make([]KeyCount, 0, len(m))
	for k, n := range m {
		out = append(out, KeyCount{k, n})
	}
	slices.SortFunc(out, func(a, b KeyCount) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Key, b.Key))
	})
	return out
}
