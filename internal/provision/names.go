// Package provision is urumi's core: it validates requests, records them as
// durable jobs, and runs them against the cluster (namespace, quota,
// network policies, credentials, the store chart through Helm's Go SDK). The
// CLI and the HTTP server both call it; it never prints.
package provision

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// Errors the CLI and the server map to exit codes and HTTP statuses.
var (
	// ErrInvalid: the request is malformed (bad name, unknown plan, ...).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: no such store, or not the caller's.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is taken or the store is busy.
	ErrConflict = errors.New("conflict")
	// ErrQuotaExceeded: the owner is at their store limit.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrForbidden: the caller may not do this.
	ErrForbidden = errors.New("forbidden")
)

var nameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// Name limits: a DNS-1123 label short enough that store-<name> and the
// objects named after it stay valid.
const (
	MinNameLen = 3
	MaxNameLen = 40
)

// reservedNames are host names a store must not capture: a store is served
// at <name>.<base domain>, where these usually name the hosting business's
// own site, mail, API or dashboard, or are names people trust.
func reservedNames() []string {
	return []string{
		"www", "api", "app", "admin", "administrator", "root", "mail", "smtp", "imap", "pop", "pop3", "mx",
		"webmail", "email", "ftp", "sftp", "ssh", "vpn", "ns", "ns1", "ns2", "dns", "ntp", "ldap",
		"auth", "login", "signin", "sso", "oauth", "account", "accounts", "billing", "payment",
		"payments", "checkout", "secure", "support", "help", "status", "dashboard", "console", "portal",
		"panel", "cpanel", "manage", "registry", "git", "cdn", "static", "docs",
		"blog", "urumi", "kubernetes", "k8s", "ingress", "metrics", "grafana",
		"prometheus", "localhost", "wpad", "autodiscover", "autoconfig", "postmaster", "hostmaster",
		"webmaster", "abuse", "security",
	}
}

// ValidateName checks a store name and says how to fix a bad one.
func ValidateName(name string) error {
	if len(name) < MinNameLen || len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return errorf(ErrInvalid, "store name %q is invalid: use %d-%d lowercase letters, digits and '-', starting with a letter and not ending with '-'", name, MinNameLen, MaxNameLen)
	}
	return nil
}

// checkNotReserved refuses a new store a reserved name. Only creating is
// refused: a store named so before the name was reserved can still be
// read, retried and deleted.
func checkNotReserved(name string) error {
	if slices.Contains(reservedNames(), name) {
		return errorf(ErrInvalid, "store name %q is reserved: it would take a host name people expect to belong to the hosting service; choose another", name)
	}
	return nil
}

// Namespace is the namespace that holds store name.
func Namespace(name string) string { return namespacePrefix + name }

// namespacePrefix begins the name of every store namespace.
const namespacePrefix = "store-"

// Labels every namespace urumi manages carries.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "urumi"
	LabelStore     = "urumi.io/store"
	LabelOwner     = "urumi.io/owner"
)

// kindError is an error of one of the kinds above whose message is only
// its own text: errors.Is(err, ErrInvalid) holds, and the user reads
// "store name ... is invalid" rather than "invalid request: store name...".
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}
