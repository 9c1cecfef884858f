package cli

import (
	"context"
	"fmt"

	"github.com/spf13/viper"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// Factory lazily builds what commands need (configuration, the state
// database, cluster clients), so `urumi version` never opens a database or
// reads a kubeconfig.
type Factory struct {
	Streams   Streams
	Getenv    func(string) string
	Build     BuildInfo
	KubeFlags *genericclioptions.ConfigFlags
	Config    Config
	// Plans are the operator's plans from the config file, or the built-in ones.
	Plans provision.Plans

	configFlags *configFlags
	localKeys   map[string]bool
	viper       *viper.Viper
	db          store.DB
	kube        *provision.Kube
}

// bindLocal makes a command's own flags part of the flag > env > file >
// default precedence (URUMI_<FLAG> and the config file key of the same name).
func (f *Factory) bindLocal(names ...string) {
	if f.localKeys == nil {
		f.localKeys = map[string]bool{}
	}
	for _, n := range names {
		f.localKeys[n] = true
	}
}

// Value is a resolved setting bound with bindLocal.
func (f *Factory) Value(key string) any { return f.viper.Get(key) }

// DB opens the state database once per process.
func (f *Factory) DB(ctx context.Context) (store.DB, error) {
	if f.db != nil {
		return f.db, nil
	}
	key, err := store.LoadAuditKey(f.Config.AuditKey, true)
	if err != nil {
		return nil, fmt.Errorf("%w (set the key file with --audit-key or URUMI_AUDIT_KEY)", err)
	}
	db, err := store.Open(ctx, f.Config.DB, store.Options{DefaultMaxStores: f.Config.DefaultMaxStores, AuditKey: key})
	if err != nil {
		return nil, err
	}
	f.db = db
	return db, nil
}

// Close releases what the factory opened.
func (f *Factory) Close() error {
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	if err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}
