package simcluster

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BinDir is where hack/build-cluster.sh puts the binaries for the versions
// pinned in hack/versions.env: $URUMI_SIMCLUSTER_BIN if set, else
// ${URUMI_CACHE_DIR:-~/.cache/urumi}/simcluster/<kubernetes version>-<key>.
// The key must stay computed exactly as the script computes it.
func BinDir() (string, error) {
	if d := os.Getenv("URUMI_SIMCLUSTER_BIN"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	hack := filepath.Join(root, "hack")
	var all []byte
	for _, f := range []string{"versions.env", "kube/go.mod", "etcd/go.mod"} {
		b, err := os.ReadFile(filepath.Join(hack, f))
		if err != nil {
			return "", fmt.Errorf("read pinned versions: %w", err)
		}
		all = append(all, b...)
	}
	sum := sha256.Sum256(all)
	version := envValue(all, "KUBERNETES_VERSION")
	cache := os.Getenv("URUMI_CACHE_DIR")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the build cache: %w", err)
		}
		cache = filepath.Join(home, ".cache", "urumi")
	}
	return filepath.Join(cache, "simcluster", version+"-"+hex.EncodeToString(sum[:])[:12]), nil
}

// RepoRoot walks up from the working directory to the directory holding
// hack/versions.env.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "versions.env")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no hack/versions.env above the working directory; set URUMI_SIMCLUSTER_BIN to the binaries' directory")
		}
		dir = parent
	}
}

func envValue(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && k == key {
			return v
		}
	}
	return ""
}
