package backup

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/podsec"
)

// ComponentBackup is the app.kubernetes.io/component label of every backup
// Job's pod: the store's NetworkPolicies select backup pods by it.
const ComponentBackup = "backup"

// Labels urumi sets on a backup Job and its pod besides the component.
const (
	LabelOperation = "urumi.io/backup-operation"
	LabelBackupID  = "urumi.io/backup-id"
)

// Images the backup Jobs run. None can be pulled on the machines urumi is
// developed on, and a production cluster should pull them from a mirror it
// controls: set the references to the mirror's, pinned by digest
// (repository@sha256:...) where the registry offers one.
type Images struct {
	// MariaDB runs the scripts: the official image has sh, mariadb-dump,
	// the mariadb client, tar and awk. Give it the store's MariaDB image, so
	// that client and server are one release.
	MariaDB string
	// Restic is the official restic image; an init container copies its
	// static binary into the pod, where the MariaDB container runs it.
	Restic string
	// PullPolicy of both containers.
	PullPolicy corev1.PullPolicy
}

// DefaultImages are the official images, pinned: the MariaDB image the
// store chart runs (charts/store/values.yaml) and restic v0.18.1, the
// release hack/tools.env builds for the tests. The one place they are set.
func DefaultImages() Images {
	return Images{
		MariaDB:    "docker.io/library/mariadb:11.8.9",
		Restic:     "docker.io/restic/restic:0.18.1",
		PullPolicy: corev1.PullIfNotPresent,
	}
}

// Repository is where backups go, as a Job in a store's namespace sees it.
type Repository struct {
	// URL is restic's repository: "rest:https://backup.example.com:8000/",
	// "s3:https://s3.example.com/bucket/prefix", or a path. It must hold
	// no credentials: they go in Secret.
	URL string
	// Secret is the Secret in the store's namespace (urumi copies it there
	// from the operator's) that holds the repository's password under
	// PasswordKey and the backend's credentials under CredentialKeys.
	Secret string
	// PasswordKey is the key of the repository password; default "password".
	PasswordKey string
	// CACertKey, when set, is the key of a PEM bundle restic trusts for
	// the repository's TLS (a private CA's), besides the system's.
	CACertKey string
	// CredentialKeys are keys of Secret given to restic as environment
	// variables of the same name: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
	// RESTIC_REST_USERNAME, RESTIC_REST_PASSWORD and the like.
	CredentialKeys []string
	// Endpoints are the addresses and ports the Jobs may reach the
	// repository on; see Endpoint and NetworkPolicy.
	Endpoints []Endpoint
}

// Retention is how many backups forget keeps: the last n, and the newest
// of each of the last n days, weeks and months. Zero keeps none by that
// rule; at least one rule must be set.
type Retention struct {
	Last, Daily, Weekly, Monthly int
}

func (r Retention) isZero() bool { return r == Retention{} }

// JobSpec is one backup Job of one store.
type JobSpec struct {
	Operation Operation
	// Store is the store the Job works on and Namespace its namespace.
	Store, Namespace string
	// BackupID names the backup (backup, restore, verify, delete): its
	// snapshots carry it as a tag.
	BackupID string
	// BackupStore is the store the backup was taken of (restore, verify,
	// delete);
	// default Store. A restore into a new store names the old one here.
	BackupStore string
	// OldURL and NewURL rewrite the site's URL for a restore into another
	// store, e.g. "https://shop.example.com" to "https://staging.example.com".
	OldURL, NewURL string
	// Retention is forget's policy.
	Retention Retention

	Repository Repository
	Images     Images
	// CredentialsSecret is the store's credentials Secret; the Jobs read
	// the MariaDB root password from it.
	CredentialsSecret string
	// WordPressClaim is the WordPress volume's claim; default "wordpress".
	WordPressClaim string
	// Labels are added to the Job's and its pod's (the store's labels).
	Labels map[string]string
	// Name is the Job's name; default "<operation>-<backup ID>", or
	// "forget-<store>" (cut to 63 characters).
	Name string
	// Resources of the container that runs the script; default requests
	// 50m CPU and 128Mi, limits 250m and 256Mi, which fit beside a small
	// plan's store. Size them from the plan for large stores: restic's
	// memory grows with the repository's index.
	Resources *corev1.ResourceRequirements
	// ActiveDeadlineSeconds bounds the Job; default 6 hours.
	ActiveDeadlineSeconds int64
	// TTLSecondsAfterFinished is how long the finished Job and its pod's
	// log stay for the runner to read the result; default one hour.
	// Finished Jobs count against the namespace's quota of Jobs.
	TTLSecondsAfterFinished int32
}

// Where the pod mounts what the scripts read.
const (
	mountTools       = "/tools"
	mountTmp         = "/tmp"
	mountCache       = "/cache"
	mountRepoSecret  = "/run/secrets/urumi-repository"
	mountDBSecret    = "/run/secrets/urumi-mariadb"
	mountWordPress   = "/wordpress"
	storeUID         = 33 // www-data in the official wordpress image: the volume's files are its
	defaultClaim     = "wordpress"
	defaultPassword  = "password"
	defaultDeadline  = 6 * 60 * 60
	defaultTTL       = 60 * 60
	mariaDBService   = "mariadb"
	storeDatabase    = "wordpress"
	maxLabelValueLen = 63
)

var (
	storeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	backupIDRE  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	urlRE       = regexp.MustCompile(`^https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~/]*)?$`)
	envKeyRE    = regexp.MustCompile(`^(AWS|RESTIC_REST|B2|AZURE|GOOGLE|OS|ST)_[A-Z0-9_]+$`)
	// user[:password]@ in a URL's authority.
	credentialsInURL = regexp.MustCompile(`://[^/]*@`)
)

// Validate says what is wrong with the spec, in the operator's words.
func (s JobSpec) Validate() error {
	switch s.Operation {
	case OpBackup, OpRestore, OpVerify, OpForget, OpDelete:
	default:
		return fmt.Errorf("backup operation %q is unknown: use one of backup, restore, verify, forget, delete", s.Operation)
	}
	if !storeNameRE.MatchString(s.Store) {
		return fmt.Errorf("store name %q is invalid for a backup job", s.Store)
	}
	if s.Namespace == "" {
		return fmt.Errorf("the backup job of store %s has no namespace", s.Store)
	}
	if s.Operation != OpForget && !backupIDRE.MatchString(s.BackupID) {
		return fmt.Errorf("backup ID %q is invalid: use letters, digits, '-', '_' and '.', at most 63", s.BackupID)
	}
	if s.BackupStore != "" && !storeNameRE.MatchString(s.BackupStore) {
		return fmt.Errorf("store name %q of the backup is invalid", s.BackupStore)
	}
	if s.OldURL != "" && s.NewURL == "" {
		return fmt.Errorf("rewriting the site URL needs the new URL")
	}
	if s.NewURL != "" {
		if s.Operation != OpRestore {
			return fmt.Errorf("only a restore rewrites the site URL")
		}
		for _, u := range []string{s.OldURL, s.NewURL} {
			if u != "" && !urlRE.MatchString(u) {
				return fmt.Errorf("site URL %q is invalid: use http(s)://host[:port][/path] in lowercase", u)
			}
		}
	}
	if s.Operation == OpForget {
		r := s.Retention
		if r.isZero() {
			return fmt.Errorf("the retention of store %s keeps nothing: set how many backups to keep", s.Store)
		}
		for _, n := range []int{r.Last, r.Daily, r.Weekly, r.Monthly} {
			if n < 0 || n > 9999 {
				return fmt.Errorf("retention count %d is invalid: use 1 to 9999, or 0 for none", n)
			}
		}
	}
	repo := s.Repository
	if repo.URL == "" || strings.ContainsAny(repo.URL, "\n\r") {
		return fmt.Errorf("the backup repository has no URL: configure one")
	}
	if credentialsInURL.MatchString(repo.URL) {
		return fmt.Errorf("the backup repository's URL holds credentials, which would show in every backup job: put them in the repository's Secret (RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	if repo.Secret == "" {
		return fmt.Errorf("the backup repository has no Secret for its password: configure one")
	}
	for _, k := range repo.CredentialKeys {
		if !envKeyRE.MatchString(k) {
			return fmt.Errorf("repository credential key %q is not one of restic's backend variables (AWS_*, RESTIC_REST_*, B2_*, AZURE_*, GOOGLE_*, OS_*, ST_*)", k)
		}
	}
	if len(repo.Endpoints) == 0 {
		return fmt.Errorf("the backup repository has no endpoint: say which address and port the backup jobs may reach")
	}
	if s.needsDatabase() && s.CredentialsSecret == "" {
		return fmt.Errorf("the backup job of store %s needs the store's credentials Secret", s.Store)
	}
	if s.Images.MariaDB == "" || s.Images.Restic == "" {
		return fmt.Errorf("the backup jobs' images are not set: use DefaultImages or mirrors of them")
	}
	return nil
}

// needsDatabase tells whether the operation reaches the store's MariaDB.
func (s JobSpec) needsDatabase() bool {
	return s.Operation == OpBackup || s.Operation == OpRestore || s.Operation == OpVerify
}

// JobName is the default name of the spec's Job.
func (s JobSpec) JobName() string {
	if s.Name != "" {
		return s.Name
	}
	n := string(s.Operation) + "-" + strings.ToLower(strings.ReplaceAll(s.BackupID, "_", "-"))
	if s.Operation == OpForget {
		n = "backup-forget-" + s.Store
	}
	n = strings.ReplaceAll(n, ".", "-")
	if len(n) > maxLabelValueLen {
		n = n[:maxLabelValueLen]
	}
	return strings.TrimRight(n, "-")
}

// Job builds the Kubernetes Job that runs the spec's operation in the
// store's namespace. Its pod passes the restricted Pod Security profile:
// non-root (www-data, whose the WordPress files are), the runtime's
// default seccomp profile, no capabilities, no privilege escalation, a
// read-only root file system with emptyDirs for /tmp, restic's cache and
// the restic binary, which an init container copies from the restic image.
// Credentials reach the script as files of Secret volumes and as
// secretKeyRef variables, never as arguments. Backup mounts the WordPress
// volume read-only and restore read-write (WordPress scaled down meanwhile:
// the claim is ReadWriteOnce); verify and forget do not mount it.
func Job(s JobSpec) (*batchv1.Job, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	script, err := Script(s.Operation)
	if err != nil {
		return nil, err
	}
	backupStore := s.BackupStore
	if backupStore == "" {
		backupStore = s.Store
	}
	claim := s.WordPressClaim
	if claim == "" {
		claim = defaultClaim
	}
	passwordKey := s.Repository.PasswordKey
	if passwordKey == "" {
		passwordKey = defaultPassword
	}
	deadline := s.ActiveDeadlineSeconds
	if deadline == 0 {
		deadline = defaultDeadline
	}

	labels := map[string]string{}
	maps.Copy(labels, s.Labels)
	labels[charts.LabelComponent] = ComponentBackup
	labels[LabelOperation] = string(s.Operation)
	if s.BackupID != "" {
		labels[LabelBackupID] = s.BackupID
	}

	env := []corev1.EnvVar{
		{Name: "RESTIC", Value: mountTools + "/restic"},
		{Name: "RESTIC_REPOSITORY", Value: s.Repository.URL},
		{Name: "RESTIC_PASSWORD_FILE", Value: mountRepoSecret + "/password"},
		{Name: "RESTIC_CACHE_DIR", Value: mountCache + "/restic"},
		{Name: "HOME", Value: mountTmp},
		{Name: "TMPDIR", Value: mountTmp},
		{Name: "STORE", Value: s.Store},
		{Name: "RESULT_FILE", Value: corev1.TerminationMessagePathDefault},
	}
	for _, k := range s.Repository.CredentialKeys {
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: s.Repository.Secret}, Key: k},
		}})
	}
	if s.Operation != OpForget {
		env = append(env,
			corev1.EnvVar{Name: "BACKUP_ID", Value: s.BackupID},
			corev1.EnvVar{Name: "BACKUP_STORE", Value: backupStore})
	}
	if s.needsDatabase() {
		env = append(env,
			corev1.EnvVar{Name: "DB_HOST", Value: mariaDBService},
			corev1.EnvVar{Name: "DB_PORT", Value: strconv.Itoa(charts.MariaDBPort)},
			corev1.EnvVar{Name: "DB_USER", Value: "root"},
			corev1.EnvVar{Name: "DB_NAME", Value: storeDatabase},
			corev1.EnvVar{Name: "DB_PASSWORD_FILE", Value: mountDBSecret + "/password"},
			corev1.EnvVar{Name: "WP_DIR", Value: mountWordPress},
		)
	}
	if s.NewURL != "" {
		env = append(env, corev1.EnvVar{Name: "NEW_URL", Value: s.NewURL})
	}
	if s.OldURL != "" {
		env = append(env, corev1.EnvVar{Name: "OLD_URL", Value: s.OldURL})
	}
	if s.Operation == OpForget {
		for _, k := range []struct {
			name string
			n    int
		}{{"KEEP_LAST", s.Retention.Last}, {"KEEP_DAILY", s.Retention.Daily}, {"KEEP_WEEKLY", s.Retention.Weekly}, {"KEEP_MONTHLY", s.Retention.Monthly}} {
			if k.n > 0 {
				env = append(env, corev1.EnvVar{Name: k.name, Value: strconv.Itoa(k.n)})
			}
		}
	}

	repoItems := []corev1.KeyToPath{{Key: passwordKey, Path: "password"}}
	if k := s.Repository.CACertKey; k != "" {
		repoItems = append(repoItems, corev1.KeyToPath{Key: k, Path: "ca.pem"})
		env = append(env, corev1.EnvVar{Name: "RESTIC_CACERT", Value: mountRepoSecret + "/ca.pem"})
	}
	// Secret files readable by the pod's group only.
	secretMode := int32(0o440)
	emptyDir := func(name, size string) corev1.Volume {
		q := resource.MustParse(size)
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &q}}}
	}
	volumes := []corev1.Volume{
		emptyDir("tools", "256Mi"),
		// restic writes the packs it uploads here first.
		emptyDir("tmp", "2Gi"),
		emptyDir("cache", "2Gi"),
		{Name: "repository", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s.Repository.Secret, DefaultMode: &secretMode,
			Items: repoItems,
		}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "tools", MountPath: mountTools, ReadOnly: true},
		{Name: "tmp", MountPath: mountTmp},
		{Name: "cache", MountPath: mountCache},
		{Name: "repository", MountPath: mountRepoSecret, ReadOnly: true},
	}
	if s.needsDatabase() {
		volumes = append(volumes, corev1.Volume{Name: "mariadb", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: s.CredentialsSecret, DefaultMode: &secretMode,
			Items: []corev1.KeyToPath{{Key: charts.SecretKeyMariaDBRootPassword, Path: "password"}},
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "mariadb", MountPath: mountDBSecret, ReadOnly: true})
	}
	if s.Operation == OpBackup || s.Operation == OpRestore {
		readOnly := s.Operation == OpBackup
		volumes = append(volumes, corev1.Volume{Name: "wordpress", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: "wordpress", MountPath: mountWordPress, ReadOnly: readOnly})
	}

	resources := defaultResources()
	if s.Resources != nil {
		resources = *s.Resources
	}
	no := false
	pod := corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: &no,
		EnableServiceLinks:           &no,
		SecurityContext:              podsec.Pod(storeUID),
		InitContainers: []corev1.Container{{
			Name:            "restic",
			Image:           s.Images.Restic,
			ImagePullPolicy: s.Images.PullPolicy,
			// The official image's binary is static: it runs in the
			// MariaDB image as it is.
			Command:         []string{"cp", "/usr/bin/restic", mountTools + "/restic"},
			SecurityContext: podsec.Container(),
			Resources:       smallResources(),
			VolumeMounts:    []corev1.VolumeMount{{Name: "tools", MountPath: mountTools}},
		}},
		Containers: []corev1.Container{{
			Name:            string(s.Operation),
			Image:           s.Images.MariaDB,
			ImagePullPolicy: s.Images.PullPolicy,
			// The script is the Job's own, so what ran is what the Job
			// says; "$0" names it in sh's messages.
			Command: []string{"sh", "-c", script, "urumi-" + string(s.Operation)},
			Env:     env,
			// The result is the termination message, which the runner
			// reads from the pod's status (ParseResult); a failed script
			// writes none, and its last lines of output (never a
			// credential) say why.
			TerminationMessagePath:   corev1.TerminationMessagePathDefault,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext:          podsec.Container(),
			Resources:                resources,
			VolumeMounts:             mounts,
		}},
		Volumes: volumes,
	}
	if s.Operation == OpBackup {
		// A ReadWriteOnce volume attaches to one node: where WordPress,
		// which has it mounted, runs.
		pod.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{charts.LabelComponent: charts.ComponentWordPress}},
				TopologyKey:   corev1.LabelHostname,
			}},
		}}
	}

	backoff := int32(0) // the durable job decides whether to run it again
	ttl := s.TTLSecondsAfterFinished
	if ttl == 0 {
		ttl = defaultTTL
	}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: s.JobName(), Namespace: s.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
		},
	}, nil
}

func defaultResources() corev1.ResourceRequirements {
	q := resource.MustParse
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("50m"), corev1.ResourceMemory: q("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q("250m"), corev1.ResourceMemory: q("256Mi")},
	}
}

func smallResources() corev1.ResourceRequirements {
	q := resource.MustParse
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("10m"), corev1.ResourceMemory: q("16Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
	}
}

// RepositorySecret is the copy of the operator's repository Secret that a
// store's namespace gets: named repo.Secret, holding only the password
// and the credential keys the Jobs read, so that nothing else of the
// operator's Secret reaches a store.
func RepositorySecret(operator *corev1.Secret, repo Repository, namespace string, labels map[string]string) (*corev1.Secret, error) {
	if repo.Secret == "" {
		return nil, fmt.Errorf("the backup repository has no Secret for its password: configure one")
	}
	passwordKey := repo.PasswordKey
	if passwordKey == "" {
		passwordKey = defaultPassword
	}
	data := map[string][]byte{}
	keys := append([]string{passwordKey}, repo.CredentialKeys...)
	if repo.CACertKey != "" {
		keys = append(keys, repo.CACertKey)
	}
	for _, k := range keys {
		v, ok := operator.Data[k]
		if !ok || len(v) == 0 {
			return nil, fmt.Errorf("the backup repository's Secret %s/%s has no key %q: add it or change the repository's configuration", operator.Namespace, operator.Name, k)
		}
		data[k] = v
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: repo.Secret, Namespace: namespace, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}, nil
}
