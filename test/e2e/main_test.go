// Package e2e holds urumi's end-to-end tests. They run against one simulated
// cluster per test run of this package (internal/simcluster).
package e2e

import (
	"os"
	"testing"

	"github.com/urumi/urumi/internal/simcluster"
)

var cluster simcluster.Shared

func TestMain(m *testing.M) { os.Exit(cluster.RunTests(m)) }
