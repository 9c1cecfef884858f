package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/urumi/urumi/internal/store"
)

// TestCheckFieldNames: keys must be exactly the target's JSON names and
// appear once, in inner objects as far as the target has structs.
func TestCheckFieldNames(t *testing.T) {
	type inner struct {
		Key   string `json:"key"`
		Value int    `json:"value,omitempty"`
	}
	type embedded struct {
		Note string `json:"note"`
	}
	type target struct {
		embedded
		Name    string            `json:"name"`
		Plain   string            // no tag: its Go name
		Skipped string            `json:"-"`
		Inner   *inner            `json:"inner,omitempty"`
		Items   []inner           `json:"items"`
		Labels  map[string]string `json:"labels"`
		Any     any               `json:"any"`
	}
	for _, tc := range []struct {
		body, refuse string
	}{
		{`{"name":"a","Plain":"b","note":"c"}`, ""},
		{`{"inner":{"key":"k","value":1},"items":[{"key":"a"},{"key":"b"}]}`, ""},
		{`{"labels":{"a":"1","A":"2"},"any":{"x":1,"X":2}}`, ""},
		{`{"name":"a","Name":"b"}`, `unknown field "Name"`},
		{`{"plain":"b"}`, `unknown field "plain"`},
		{`{"Skipped":"b"}`, `unknown field "Skipped"`},
		{`{"-":"b"}`, `unknown field "-"`},
		{`{"embedded":{}}`, `unknown field "embedded"`},
		{`{"name":"a","name":"b"}`, `field "name" appears more than once`},
		{`{"inner":{"key":"k","KEY":"j"}}`, `unknown field "inner.KEY"`},
		{`{"inner":{"key":"k","key":"j"}}`, `field "inner.key" appears more than once`},
		{`{"items":[{"key":"a"},{"Key":"b"}]}`, `unknown field "items[1].Key"`},
		{`{"labels":{"a":"1","a":"2"}}`, `field "labels.a" appears more than once`},
		{`{"any":{"x":1,"x":2}}`, `field "any.x" appears more than once`},
	} {
		err := checkFieldNames(json.NewDecoder(strings.NewReader(tc.body)), reflect.TypeFor[target](), "")
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%s: %v, want %q", tc.body, err, tc.refuse)
		case err != nil && apiErrorOf(err).code != codeMalformed:
			t.Errorf("%s: code %s, want %s", tc.body, apiErrorOf(err).code, codeMalformed)
		}
	}
}

// TestStateDatabaseFaultsAre503: a state database that is unreachable, or
// cannot be written, is the server's passing trouble (503), not a fault of
// the request or an internal error; the unreachable one says when to retry.
func TestStateDatabaseFaultsAre503(t *testing.T) {
	for _, tc := range []struct {
		err        error
		retryAfter bool
	}{
		{fmt.Errorf("create store: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), true},
		{fmt.Errorf("create store: %w", store.ErrDiskFull), false},
		{fmt.Errorf("create store: %w", store.ErrReadOnly), false},
	} {
		ae := apiErrorOf(tc.err)
		if ae.status != http.StatusServiceUnavailable || ae.code != codeUnavailable || (ae.retryAfter > 0) != tc.retryAfter {
			t.Errorf("%v: %d %s (retry after %s)", tc.err, ae.status, ae.code, ae.retryAfter)
		}
		if strings.Contains(ae.msg, "/") {
			t.Errorf("%v: the message shows the server's paths: %s", tc.err, ae.msg)
		}
	}
}

// TestClusterErrorIsNotDatabaseError: a network error of the cluster is
// not reported as the state database's.
func TestClusterErrorIsNotDatabaseError(t *testing.T) {
	err := fmt.Errorf("check store: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	if ae := apiErrorOf(err); strings.Contains(ae.msg, "database") {
		t.Errorf("%v answered as %q", err, ae.msg)
	}
}
