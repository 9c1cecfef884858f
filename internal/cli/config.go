package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// Config is urumi's resolved configuration. Every field is a key that can be
// set by a flag, a URUMI_* environment variable (key upper-cased, '-' as
// '_') or the config file, in that order of precedence, else its default.
type Config struct {
	DB               string        `mapstructure:"db"`
	AuditKey         string        `mapstructure:"audit-key"`
	Owner            string        `mapstructure:"owner"`
	BaseDomain       string        `mapstructure:"base-domain"`
	IngressClass     string        `mapstructure:"ingress-class"`
	IngressNamespace string        `mapstructure:"ingress-namespace"`
	TLSIssuer        string        `mapstructure:"tls-issuer"`
	Route            string        `mapstructure:"route"`
	GatewayName      string        `mapstructure:"gateway-name"`
	GatewayNamespace string        `mapstructure:"gateway-namespace"`
	GatewaySection   string        `mapstructure:"gateway-section"`
	Timeout          time.Duration `mapstructure:"timeout"`
	DefaultMaxStores int           `mapstructure:"default-max-stores"`
	Lease            time.Duration `mapstructure:"lease"`
	DefaultPlan      string        `mapstructure:"default-plan"`
	// Backups: restic's repository, the Secret with its password and
	// credentials (namespace/name), and the addresses the backup Jobs may
	// reach it on.
	BackupRepository string `mapstructure:"backup-repository"`
	BackupSecret     string `mapstructure:"backup-secret"`
	BackupEndpoints  string `mapstructure:"backup-endpoints"`
	// Serve is serve's own keys, resolved only for serve.
	Serve ServeConfig `mapstructure:"-"`
}

// ServeConfig is serve's settings.
type ServeConfig struct {
	Addr       string
	Workers    int
	CreateRate int
	// CredentialsRate is each token's store password reads and resets
	// per minute.
	CredentialsRate int
	ShutdownGrace   time.Duration
	LogFormat       string
	LogLevel        string
	Drift           string
	// BootstrapTokenFile names a file holding an admin token to register
	// at start (mounted from a Secret in a cluster).
	BootstrapTokenFile string
	// BackupSchedule is how often serve looks for scheduled backups that
	// are due (0: it takes none).
	BackupSchedule time.Duration
}

// field is a setting's key and where its resolved value goes.
type field struct {
	key string
	ptr any
	// local: a command's own flag (serve's), resolved only where bound;
	// a value that cannot be read is a usage error.
	local bool
}

// fields lists every setting of c, global and serve's.
func (c *Config) fields() []field {
	return []field{
		{"db", &c.DB, false}, {"audit-key", &c.AuditKey, false}, {"owner", &c.Owner, false},
		{"base-domain", &c.BaseDomain, false}, {"ingress-class", &c.IngressClass, false},
		{"ingress-namespace", &c.IngressNamespace, false}, {"tls-issuer", &c.TLSIssuer, false},
		{"route", &c.Route, false}, {"gateway-name", &c.GatewayName, false},
		{"gateway-namespace", &c.GatewayNamespace, false}, {"gateway-section", &c.GatewaySection, false},
		{"timeout", &c.Timeout, false}, {"default-max-stores", &c.DefaultMaxStores, false},
		{"lease", &c.Lease, false}, {"default-plan", &c.DefaultPlan, false},
		{"backup-repository", &c.BackupRepository, false}, {"backup-secret", &c.BackupSecret, false},
		{"backup-endpoints", &c.BackupEndpoints, false},
		{"addr", &c.Serve.Addr, true}, {"workers", &c.Serve.Workers, true},
		{"create-rate", &c.Serve.CreateRate, true}, {"shutdown-grace", &c.Serve.ShutdownGrace, true},
		{"credentials-rate", &c.Serve.CredentialsRate, true},
		{"log-format", &c.Serve.LogFormat, true}, {"log-level", &c.Serve.LogLevel, true},
		{"drift", &c.Serve.Drift, true}, {"bootstrap-token-file", &c.Serve.BootstrapTokenFile, true},
		{"backup-schedule-interval", &c.Serve.BackupSchedule, true},
	}
}

// setting is one configuration key with its default and help.
type setting struct {
	key   string
	def   any
	usage string
}

// settings lists the global keys once; flags, env and file all derive from it.
func settings(getenv func(string) string) []setting {
	return []setting{
		{"db", defaultDBPath(getenv), "state database: a SQLite file path or a postgres:// URL"},
		{"audit-key", defaultAuditKeyPath(getenv), "file holding the key of the audit log's hash chain, as hex " +
			"(made at first use if missing; every process sharing a database needs the same one)"},
		{"owner", "", "owner of the stores you create (default: the OS user)"},
		{"base-domain", "localhost", "stores are served at <name>.<base-domain>"},
		{"ingress-class", "nginx", "IngressClass of the stores' Ingress"},
		{"ingress-namespace", "ingress-nginx", "namespace of the ingress controller allowed to reach stores"},
		{"tls-issuer", "", "cert-manager ClusterIssuer for the stores' TLS certificates (empty: no TLS)"},
		{"route", provision.RouteIngress, "how stores are reached: ingress (an Ingress of --ingress-class) or gateway (a Gateway API HTTPRoute attached to --gateway-name)"},
		{"gateway-name", "", "with --route gateway: the Gateway the stores' HTTPRoutes attach to"},
		{"gateway-namespace", "", "with --route gateway: the Gateway's namespace, which the stores' NetworkPolicies admit"},
		{"gateway-section", "", "with --route gateway: the Gateway listener to attach to (empty: any that admits the routes)"},
		{"timeout", 5 * time.Minute, "how long provisioning may take before the store is FAILED"},
		{"default-max-stores", 5, `active stores an owner may have unless "urumi quota set" says otherwise`},
		{"lease", 30 * time.Second, "how long a job stays claimed by a worker that stopped renewing it"},
		{"default-plan", "", "plan of stores created without one (default: medium, or the first plan of the config file)"},
		{"backup-repository", "", "restic repository of store backups, without credentials: " +
			"rest:https://host:8000/, s3:https://host/bucket or a path (empty: backups are off)"},
		{"backup-secret", "", "NAMESPACE/NAME of the Secret holding the backup repository's password " +
			"(key password) and its credentials (AWS_*, RESTIC_REST_* keys; ca.crt for a private CA)"},
		{"backup-endpoints", "", "comma-separated ADDRESS:PORT, CIDR:PORT or public:PORT the backup Jobs may reach the repository on"},
	}
}

type configFlags struct {
	path string
	set  []setting
}

func (c *configFlags) add(flags *pflag.FlagSet, getenv func(string) string) {
	flags.StringVar(&c.path, "config", "", "config file (default "+defaultConfigPath(getenv)+")")
	c.set = settings(getenv)
	for _, s := range c.set {
		switch d := s.def.(type) {
		case string:
			flags.String(s.key, d, s.usage)
		case int:
			flags.Int(s.key, d, s.usage)
		case time.Duration:
			flags.Duration(s.key, d, s.usage)
		}
	}
}

// loadConfig resolves Config for cmd: flag > URUMI_* env > file > default.
func (f *Factory) loadConfig(cmd *cobra.Command) error {
	v := viper.New()
	for _, s := range f.configFlags.set {
		v.SetDefault(s.key, s.def)
		if err := f.bind(v, cmd.Flags().Lookup(s.key), s.key); err != nil {
			return err
		}
	}
	// Command-local flags (like serve's --addr) join the same precedence.
	bound := map[string]bool{}
	var bindErr error
	cmd.LocalNonPersistentFlags().VisitAll(func(fl *pflag.Flag) {
		if bindErr == nil && f.localKeys[fl.Name] {
			bound[fl.Name] = true
			bindErr = f.bind(v, fl, fl.Name)
		}
	})
	if bindErr != nil {
		return bindErr
	}

	path, explicit := f.configFlags.path, f.configFlags.path != ""
	if !explicit {
		if p := f.Getenv("URUMI_CONFIG"); p != "" {
			path, explicit = p, true
		} else {
			path = defaultConfigPath(f.Getenv)
		}
	}
	if err := f.tightenConfigFile(path); err != nil {
		return err
	}
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		// No file at the default path is normal; a named file must exist.
		if explicit || !(errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			return fmt.Errorf("read config file %s: %w (fix the file or point --config elsewhere)", path, err)
		}
	}
	var cfg Config
	for _, fd := range cfg.fields() {
		if fd.local && !bound[fd.key] {
			continue
		}
		if err := v.UnmarshalKey(fd.key, fd.ptr); err != nil {
			if fd.local {
				return usageError{fmt.Errorf("--%s (or URUMI_%s): %w", fd.key, envName(fd.key), err)}
			}
			return fmt.Errorf("--%s, URUMI_%s or config file %s: %w", fd.key, envName(fd.key), path, err)
		}
	}
	if cfg.Owner == "" {
		cfg.Owner = osUser(f.Getenv)
	}
	plans, err := loadPlans(v.Get("plans"), cfg.DefaultPlan)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	f.Config = cfg
	f.Plans = plans
	return nil
}

// bind puts key's flag (fl, nil if the command has none) and URUMI_<KEY>
// above the config file and the default. The variable is read through the
// injected Getenv, never by viper from the process: a value viper is Set
// outranks the file and the default, and is only set when the flag, which
// outranks it, was not given.
func (f *Factory) bind(v *viper.Viper, fl *pflag.Flag, key string) error {
	if fl != nil {
		if err := v.BindPFlag(key, fl); err != nil {
			return fmt.Errorf("bind --%s: %w", key, err)
		}
		if fl.Changed {
			return nil
		}
	}
	if val := f.Getenv("URUMI_" + envName(key)); val != "" {
		v.Set(key, val)
	}
	return nil
}

// tightenConfigFile keeps the config file private: it may hold a database
// URL with its password. A file group or others may read or write is made
// 0600 when it is the user's own (and said so), else refused with the
// command that fixes it. A missing file is left to the reader.
func (f *Factory) tightenConfigFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil || !store.UnixModes || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if !store.OwnedByCurrentUser(fi) {
		return fmt.Errorf("config file %s is open to other users (mode %04o) and is not yours to change: have its owner run `chmod 600 %s`", path, fi.Mode().Perm(), shellQuote(path))
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("config file %s is open to other users (mode %04o) and could not be made private: %w; run `chmod 600 %s`", path, fi.Mode().Perm(), err, shellQuote(path))
	}
	fmt.Fprintf(f.Streams.ErrOut, "config file %s was open to other users (mode %04o): made it private (0600), as it may hold the database's password\n", path, fi.Mode().Perm())
	return nil
}

// shellQuote quotes s for a POSIX shell unless it needs none.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+@:,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func xdgDir(getenv func(string) string, env, fallback string) string {
	if d := getenv(env); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		// From the user database, not the process environment behind getenv.
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	return filepath.Join(home, fallback)
}

func defaultDBPath(getenv func(string) string) string {
	return filepath.Join(xdgDir(getenv, "XDG_DATA_HOME", ".local/share"), "urumi", "urumi.db")
}

func defaultAuditKeyPath(getenv func(string) string) string {
	return filepath.Join(xdgDir(getenv, "XDG_DATA_HOME", ".local/share"), "urumi", "audit.key")
}

func defaultConfigPath(getenv func(string) string) string {
	return filepath.Join(xdgDir(getenv, "XDG_CONFIG_HOME", ".config"), "urumi", "config.yaml")
}

func osUser(getenv func(string) string) string {
	for _, k := range []string{"USER", "LOGNAME"} {
		if u := getenv(k); u != "" {
			return u
		}
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "default"
}

// loadPlans reads the config file's plans (a list, as `urumi plan list -o
// yaml` prints them), refusing fields it does not know; none means the
// built-in plans.
func loadPlans(raw any, def string) (provision.Plans, error) {
	var plans []provision.Plan
	if raw != nil {
		b, err := json.Marshal(raw)
		if err != nil {
			return provision.Plans{}, fmt.Errorf("plans: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&plans); err != nil {
			return provision.Plans{}, fmt.Errorf("plans: %w (see `urumi plan list -o yaml` for the form)", err)
		}
	}
	return provision.NewPlans(plans, def)
}
