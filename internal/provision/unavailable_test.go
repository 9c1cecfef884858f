package provision

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestClusterUnavailable: a step runs again for an API server that is
// away or busy, never for one that refused the request.
func TestClusterUnavailable(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("create namespace: %w", &netOpError{syscall.ECONNREFUSED}), true},
		{errors.New(`Get "https://127.0.0.1:6443/api/v1/namespaces/x": dial tcp 127.0.0.1:6443: connect: connection refused`), true},
		{apierrors.NewServiceUnavailable("etcd is away"), true},
		{errors.New(`create namespace store-x: Post "https://127.0.0.1:6443/api/v1/namespaces": net/http: TLS handshake timeout`), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{errors.New("helm install: resource ConfigMap/store-x/wordpress-cron not ready. status: Unknown, message: "), true},
		{errors.Join(apierrors.NewConflict(pods, "x", errors.New("changed")),
			errors.New(`server-side apply failed for object store-x/wordpress networking.k8s.io/v1, Kind=Ingress: Put "https://127.0.0.1:6443/x": dial tcp 127.0.0.1:6443: connect: connection refused`)), true},
		{apierrors.NewForbidden(pods, "x", errors.New("no")), false},
		{errors.New("helm upgrade: release store failed, and has been rolled back due to rollback-on-failure being set: resource Deployment/store-x/wordpress not ready. status: Unknown, message: \ncontext deadline exceeded"), false},
		{fmt.Errorf("helm install: %w", context.DeadlineExceeded), false},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "x", nil), false},
		{errors.New("exceeded quota: compute, requested: cpu=8"), false},
	} {
		if got := clusterUnavailable(tc.err); got != tc.want {
			t.Errorf("clusterUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

type netOpError struct{ errno syscall.Errno }

func (e *netOpError) Error() string { return "dial tcp 127.0.0.1:6443: connect: " + e.errno.Error() }
func (e *netOpError) Unwrap() error { return e.errno }
