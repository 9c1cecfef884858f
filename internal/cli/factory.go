package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

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
	// Out and ErrOut are what stdout and stderr are (terminal, colour,
	// width), decided once when the Factory is made.
	Out, ErrOut *terminal
	// Now is the clock ages are printed against.
	Now func() time.Time

	configFlags *configFlags
	localKeys   map[string]bool
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

// settings are the cluster-wide provisioning choices from the config.
func (f *Factory) settings() provision.Settings {
	return provision.Settings{
		BaseDomain:       f.Config.BaseDomain,
		IngressClass:     f.Config.IngressClass,
		IngressNamespace: f.Config.IngressNamespace,
		TLSIssuer:        f.Config.TLSIssuer,
		Route:            f.Config.Route,
		Gateway: provision.GatewayRef{
			Name: f.Config.GatewayName, Namespace: f.Config.GatewayNamespace, SectionName: f.Config.GatewaySection,
		},
		Timeout: f.Config.Timeout,
		Backup: provision.BackupRepository{
			URL: f.Config.BackupRepository, Secret: f.Config.BackupSecret, Endpoints: f.Config.BackupEndpoints,
		},
	}
}

// Service is the core's operations on the configured database.
func (f *Factory) Service(ctx context.Context) (*provision.Service, error) {
	db, err := f.DB(ctx)
	if err != nil {
		return nil, err
	}
	return &provision.Service{DB: db, Settings: f.settings(), Plans: f.Plans}, nil
}

// Kube connects to the kubeconfig's cluster, once per process; with no
// kubeconfig, in a pod, to the pod's cluster as its service account.
func (f *Factory) Kube(log *slog.Logger) (*provision.Kube, error) {
	if f.kube != nil {
		return f.kube, nil
	}
	cfg, err := f.KubeFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w (set --kubeconfig or KUBECONFIG, or pick a --context)", err)
	}
	// Without a kubeconfig or a pod's service account, client-go falls
	// back to http://localhost:8080, which is never the cluster meant.
	// (In a pod the config reads the service account's token file.)
	if cfg.BearerTokenFile == "" && (f.KubeFlags.APIServer == nil || *f.KubeFlags.APIServer == "") {
		if raw, err := f.KubeFlags.ToRawKubeConfigLoader().RawConfig(); err == nil && len(raw.Clusters) == 0 {
			return nil, errors.New("no cluster to talk to: no kubeconfig was found (--kubeconfig, KUBECONFIG or ~/.kube/config) and urumi is not running in a pod with a service account token; point --kubeconfig at one")
		}
	}
	cfg.UserAgent = "urumi/" + f.Build.Version
	k, err := provision.NewKube(cfg, f.settings(), log)
	if err != nil {
		return nil, err
	}
	f.kube = k
	return k, nil
}

// preflight checks the cluster answers and allows what urumi does, before
// a request that will run here is recorded.
func (f *Factory) preflight(ctx context.Context) error {
	k, err := f.Kube(f.quietLogger())
	if err != nil {
		return err
	}
	return k.Preflight(ctx)
}

// Runner runs jobs from this process.
func (f *Factory) Runner(ctx context.Context, log *slog.Logger) (*provision.Runner, error) {
	db, err := f.DB(ctx)
	if err != nil {
		return nil, err
	}
	k, err := f.Kube(log)
	if err != nil {
		return nil, err
	}
	// Copies of the runner (one per worker) renew their leases together.
	leases := &provision.Leases{DB: db, Lease: f.Config.Lease, Log: log}
	return &provision.Runner{DB: db, Kube: k, Worker: workerID("cli"), Lease: f.Config.Lease, Leases: leases, Log: log}, nil
}

// caller is the local user. Whoever runs the CLI against the database is
// its administrator: they could edit it directly anyway.
func (f *Factory) caller() provision.Caller {
	return provision.Caller{Name: osUser(f.Getenv), Admin: true}
}

// workerID names a worker uniquely across processes and hosts.
func workerID(kind string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%s-%d-%s", kind, host, os.Getpid(), hex.EncodeToString(b))
}

// quietLogger discards the core's logs unless URUMI_DEBUG is set, which
// sends them to stderr; the CLI reports progress itself.
func (f *Factory) quietLogger() *slog.Logger {
	if f.Getenv("URUMI_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(f.Streams.ErrOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
