// Package e2e holds urumi's end-to-end tests. They run against one simulated
// cluster per test run of this package (internal/simcluster).
package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/urumi/urumi/internal/simcluster"
)

var cluster simcluster.Shared

func TestMain(m *testing.M) {
	code := cluster.RunTests(m)
	if build.bin != "" && os.Getenv("URUMI_E2E_BIN") == "" {
		_ = os.RemoveAll(filepath.Dir(build.bin))
	}
	os.Exit(code)
}
