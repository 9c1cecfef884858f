// Package hostiletest holds the requests an attacker holding a store
// owner's token would send, shared by the tests of the core, the HTTP API
// and the CLI so that each refuses the same table.
package hostiletest

import "strings"

// Override is one hostile request's value overrides.
type Override struct {
	Name string
	Set  []string
	// AdminOK: an admin may set it; it is refused to store owners only.
	AdminOK bool
}

// Overrides are set entries an attacker holding a store owner's token
// would try, written for the built-in plan "small"; every one must be
// refused, for owners and (but for the keys an admin may set, which are
// marked) admins alike.
func Overrides() []Override {
	injected := "images.wordpress.tag=7.1.2-php8.3-apache\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  namespace: kube-system"
	many := make([]string, 33) // one more than urumi takes
	for i := range many {
		many[i] = "site.title=x"
	}
	return []Override{
		{"injected tag", []string{injected}, false},
		{"injected tag, CRLF", []string{"images.wordpress.tag=x\r\n---\r\nkind: Pod"}, false},
		{"tag with a quote", []string{`images.wordpress.tag=x" evil: "y`}, false},
		{"tag with a template", []string{"images.wordpress.tag={{ .Release.Name }}"}, false},
		{"repository with a newline", []string{"images.wordpress.repository=evil\n---\nkind: Pod"}, false},
		{"repository with spaces", []string{"images.wordpress.repository=evil image"}, false},
		{"digest not a digest", []string{"images.wordpress.digest=sha256:zz"}, false},
		{"server-snippet annotation", []string{`ingress.annotations.nginx\.ingress\.kubernetes\.io/server-snippet=return 200`}, true},
		{"annotation key with a space", []string{`ingress.annotations.bad key=x`}, false},
		{"annotation key with a newline", []string{"ingress.annotations.a\nb=x"}, false},
		{"ingress class", []string{"ingress.className=other"}, true},
		{"ingress class with a slash", []string{"ingress.className=a/b"}, false},
		{"TLS issuer", []string{"ingress.tlsIssuer=letsencrypt"}, true},
		{"storage class", []string{"storage.className=fast"}, true},
		{"storage class injected", []string{"storage.className=x\"\n  hostPath: /"}, false},
		{"pull policy", []string{"images.pullPolicy=Always"}, true},
		{"pull policy unknown", []string{"images.pullPolicy=Sometimes"}, false},
		{"GPU request", []string{"resources.wordpress.limits.nvidia\\.com/gpu=1"}, false},
		{"hugepages", []string{"resources.wordpress.limits.hugepages-2Mi=1Gi"}, false},
		{"backoff limit huge", []string{"setup.backoffLimit=1000000"}, false},
		{"backoff limit", []string{"setup.backoffLimit=6"}, true},
		{"host", []string{"host=other.example.com"}, false},
		{"credentials secret", []string{"credentialsSecret=someone-elses"}, false},
		{"nested host", []string{"host.x=1"}, false},
		{"list index", []string{"aa[65536]=1"}, false},
		{"list index in a known key", []string{"images.wordpress[0]=1"}, false},
		{"braces", []string{"site={title: x}"}, false},
		{"too many entries", many, false},
		{"too long", []string{"site.title=" + strings.Repeat("a", 1024)}, false},
		{"control character", []string{"site.title=a\x00b"}, false},
		{"line separator", []string{"site.title=a\u2028b"}, false},
		{"invalid UTF-8", []string{"site.title=a\xffb"}, false},
		{"unknown key", []string{"nosuch.value=1"}, false},
		{"a group", []string{"images=x"}, false},
		{"no equals sign", []string{"site.title"}, false},
		{"empty key part", []string{"site..title=x"}, false},
		{"too deep", []string{"a.b.c.d.e.f.g=1"}, false},
		{"set twice", []string{"site.title=a", "site.title=b"}, false},
		{"cpu beyond the plan", []string{"resources.wordpress.limits.cpu=64"}, false},
		{"cpu not a quantity", []string{"resources.wordpress.limits.cpu=lots"}, false},
		{"request above limit", []string{"resources.wordpress.requests.memory=1500Mi"}, false},
		{"storage beyond the plan", []string{"storage.wordpress.size=1Ti"}, false},
		{"cron schedule injected", []string{"cron.schedule=* * * * *\n---\nkind: Pod"}, false},
		{"cron schedule with a template", []string{"cron.schedule={{ .Release.Name }}"}, false},
		{"cron every second", []string{"cron.schedule=@every 1s"}, false},
		{"cron history huge", []string{"cron.failedJobsHistoryLimit=1000"}, false},
		{"cron beyond the plan", []string{"resources.cron.limits.memory=512Mi"}, false},
		{"cron off", []string{"cron.enabled=false"}, true},
		{"admin user", []string{"admin.user=root"}, true},
		{"ingress disabled", []string{"ingress.enabled=false"}, true},
		{"title too long", []string{"site.title=" + strings.Repeat("x", 201)}, false},
	}
}
