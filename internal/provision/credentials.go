package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/podsec"
	"github.com/urumi/urumi/internal/store"
)

// `store credentials` and `store reset-password`: the one way a store's
// WordPress administrator login leaves its Secret, on an explicit request
// of the store's owner or an admin, each written to the audit log. The
// password is returned to the caller and nowhere else: not to urumi's
// database, its logs, the audit entry, Helm's values or the reset Job,
// which reads it from the Secret itself.

// Audit actions of this file.
const (
	ActionCredentialsRead  = "credentials.read"
	ActionCredentialsReset = "credentials.reset"
)

// ComponentPasswordReset is the app.kubernetes.io/component label of the
// password reset Job and its pod: the reset's NetworkPolicies select it,
// and check knows its pods as urumi's.
const ComponentPasswordReset = "password-reset"

// Names of the password reset's NetworkPolicies: its pod may reach the
// store's MariaDB, and MariaDB admits it. Made by the first reset.
const (
	PolicyPasswordResetEgress      = "password-reset-egress"
	PolicyMariaDBFromPasswordReset = "mariadb-from-password-reset"
)

// passwordResetPrefix begins every reset Job's name.
const passwordResetPrefix = "password-reset-"

// Defaults of the chart (charts/store/values.yaml) for a release whose
// values do not say.
const (
	defaultAdminUser = "admin"
	wordpressClaim   = "wordpress"
	wordpressUID     = 33 // www-data, as the chart runs its wp-cli pods
)

// Credentials is a store's WordPress administrator login.
type Credentials struct {
	Store    string `json:"store"`
	Username string `json:"username"`
	Password string `json:"password"`
	URL      string `json:"url"`
}

// PasswordReset is a store's new administrator login and the Job that
// applies it to WordPress.
type PasswordReset struct {
	Store    string `json:"store"`
	Username string `json:"username"`
	Password string `json:"password"`
	Job      string `json:"job"`
}

// Credentials reads the administrator's user name and password of a store
// the caller may see (another owner's is not found), and records who read
// them. Without the audit entry, nothing is revealed.
func (s *Service) Credentials(ctx context.Context, c Caller, k *Kube, name string) (Credentials, error) {
	start := time.Now()
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return Credentials{}, err
	}
	switch st.Status {
	case store.StatusQueued, store.StatusDeleting:
		return Credentials{}, errorf(ErrConflict, "store %q is %s: it has no administrator login to show", name, st.Status)
	}
	ns := Namespace(name)
	sec, err := k.credentialsSecret(ctx, name)
	if err != nil {
		return Credentials{}, err
	}
	pw := string(sec.Data[charts.SecretKeyWordPressAdminPassword])
	if pw == "" {
		return Credentials{}, errorf(ErrConflict, "store %q has no administrator password in its credentials Secret: an admin can run urumi store repair %s", name, name)
	}
	vals, err := k.deployedValues(ns)
	if err != nil {
		return Credentials{}, err
	}
	user, err := adminUser(vals)
	if err != nil {
		return Credentials{}, err
	}
	if err := s.record(ctx, c, ActionCredentialsRead, name, "succeeded", "user "+user, start, func(store.DB) error { return nil }); err != nil {
		return Credentials{}, err
	}
	url := st.URL
	if url == "" { // a store not READY yet: where it will be
		if o, err := decodeOptions(st.Options); err == nil {
			url = storeURL(name, o)
		}
	}
	return Credentials{Store: name, Username: user, Password: pw, URL: url}, nil
}

// ResetPassword gives a READY (or DEGRADED) store's administrator a new
// random password: it is written to the store's Secret, then a one-shot
// Job in the store's namespace applies it to WordPress with wp-cli. The
// Job is not waited for (it needs a pod scheduled and an image pulled);
// its name is returned to follow it. A reset supersedes an earlier one
// still running, whose Job is deleted first, so the newest password is the
// one applied. Refused while a durable job (create, upgrade, backup...)
// works on the store.
func (s *Service) ResetPassword(ctx context.Context, c Caller, k *Kube, name string) (PasswordReset, error) {
	start := time.Now()
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return PasswordReset{}, err
	}
	if st.Status != store.StatusReady && st.Status != store.StatusDegraded {
		return PasswordReset{}, errorf(ErrConflict, "store %q is %s: its password can be reset once it is READY (urumi store get %s)", name, st.Status, name)
	}
	switch active, err := s.DB.ActiveJob(ctx, name); {
	case err == nil:
		return PasswordReset{}, errorf(ErrConflict, "store %q has a %s job (%d) in flight: wait for it (urumi store get %s), then try again", name, active.Kind, active.ID, name)
	case !errors.Is(err, store.ErrNotFound):
		return PasswordReset{}, fmt.Errorf("read the jobs of %s: %w", name, err)
	}
	ns := Namespace(name)
	vals, err := k.deployedValues(ns)
	if err != nil {
		return PasswordReset{}, err
	}
	if vals == nil {
		return PasswordReset{}, errorf(ErrConflict, "store %q has no deployed release to reset the password of: an admin can run urumi store repair %s", name, name)
	}
	spec, err := resetSpec(name, st.Owner, vals)
	if err != nil {
		return PasswordReset{}, err
	}
	res, err := k.resetPassword(ctx, spec)
	if err != nil {
		s.failed(ctx, c, ActionCredentialsReset, name, err, start)
		return PasswordReset{}, err
	}
	detail := fmt.Sprintf("user %s; job %s", spec.User, res.Job)
	if err := s.record(ctx, c, ActionCredentialsReset, name, "succeeded", detail, start, func(store.DB) error { return nil }); err != nil {
		return PasswordReset{}, fmt.Errorf("the password was reset (job %s) but %w: read it with urumi store credentials %s", res.Job, err, name)
	}
	return res, nil
}

// failed records an operation that failed on the cluster, best effort: the
// caller hears the error either way. The entry holds the error's text,
// which never holds a credential.
func (s *Service) failed(ctx context.Context, c Caller, action, name string, cause error, start time.Time) {
	_, _ = s.DB.AppendAudit(ctx, store.AuditEntry{
		Actor: c.Name, Action: action, Store: name, Outcome: "failed", Detail: cause.Error(),
		DurationMS: time.Since(start).Milliseconds(),
	})
}

// credentialsSecret is the store's credentials Secret, which must carry
// urumi's labels for the store.
func (k *Kube) credentialsSecret(ctx context.Context, name string) (*corev1.Secret, error) {
	sec, err := k.Client.CoreV1().Secrets(Namespace(name)).Get(ctx, credentialsName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, errorf(ErrConflict, "store %q has no credentials Secret: restore it from a backup, or ask an admin to run urumi store check %s", name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", credentialsName, describeAPIError(err))
	}
	if sec.Labels[LabelManagedBy] != ManagedBy || sec.Labels[LabelStore] != name {
		return nil, errorf(ErrConflict, "the credentials Secret of store %q lost urumi's labels: an admin should run urumi store check %s", name, name)
	}
	return sec, nil
}

// deployedValues are the values of the store's deployed Helm revision
// over its chart's defaults, read from Helm's release record; nil when no
// revision is deployed.
func (k *Kube) deployedValues(ns string) (map[string]any, error) {
	d := driver.NewSecrets(k.Client.CoreV1().Secrets(ns))
	rels, err := d.Query(map[string]string{"name": releaseName, "owner": "helm", "status": "deployed"})
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the store's helm release: %w", describeAPIError(err))
	}
	var newest map[string]any
	version := -1
	for _, r := range rels {
		rel, err := asRelease(r)
		if err != nil {
			return nil, err
		}
		if rel.Chart == nil || rel.Version <= version {
			continue
		}
		all, err := util.CoalesceValues(rel.Chart, rel.Config)
		if err != nil {
			return nil, fmt.Errorf("read the values of helm revision %d: %w", rel.Version, err)
		}
		newest, version = all, rel.Version
	}
	return newest, nil
}

// wpUserRE is what WordPress accepts as a user name (sanitize_user in
// strict mode) and what the chart's schema allows.
var wpUserRE = regexp.MustCompile(`^[A-Za-z0-9 _.@-]{1,60}$`)

// adminUser is the administrator's user name in vals (the chart's
// default when there is no release yet).
func adminUser(vals map[string]any) (string, error) {
	u, _ := lookupValue(vals, "admin", "user").(string)
	if vals == nil || u == "" {
		return defaultAdminUser, nil
	}
	if !wpUserRE.MatchString(u) {
		return "", fmt.Errorf("the store's administrator user name %q is not one WordPress accepts: check the release's admin.user value", clip(u))
	}
	return u, nil
}

// passwordResetSpec is what a reset Job is built from: the store, its
// administrator, and the wp-cli image, pull policy and resources the
// store's deployed revision runs its setup Job with.
type passwordResetSpec struct {
	Store, Owner string
	User         string
	Image        string
	PullPolicy   corev1.PullPolicy
	Resources    corev1.ResourceRequirements
	// CronEnabled: the chart's wp-config then disables WP-Cron on page
	// loads, and wp-cli is given the same setting.
	CronEnabled bool
	// Name is the Job's name.
	Name string
}

// imagePartRE is what the chart's schema allows in an image's parts.
var imagePartRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]*$`)

// resetSpec reads a reset Job's settings from the deployed values.
func resetSpec(name, owner string, vals map[string]any) (passwordResetSpec, error) {
	user, err := adminUser(vals)
	if err != nil {
		return passwordResetSpec{}, err
	}
	str := func(path ...string) string { v, _ := lookupValue(vals, path...).(string); return v }
	repo, tag, digest := str("images", "cli", "repository"), str("images", "cli", "tag"), str("images", "cli", "digest")
	if repo == "" || !imagePartRE.MatchString(repo) || (tag != "" && !imagePartRE.MatchString(tag)) || (digest != "" && !imagePartRE.MatchString(digest)) {
		return passwordResetSpec{}, fmt.Errorf("the store's wp-cli image (images.cli) cannot be read from its release: an admin can run urumi store repair %s", name)
	}
	image := repo
	if tag != "" {
		image += ":" + tag
	}
	if digest != "" {
		image += "@" + digest
	}
	pull := corev1.PullPolicy(str("images", "pullPolicy"))
	switch pull {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		pull = corev1.PullIfNotPresent
	}
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	if raw := lookupValue(vals, "resources", "setup"); raw != nil {
		b, err := json.Marshal(raw)
		if err == nil {
			var r corev1.ResourceRequirements
			if json.Unmarshal(b, &r) == nil && len(r.Limits) > 0 {
				res = r
			}
		}
	}
	cron, _ := lookupValue(vals, "cron", "enabled").(bool)
	suffix, err := randomString(6)
	if err != nil {
		return passwordResetSpec{}, fmt.Errorf("name the reset job: %w", err)
	}
	return passwordResetSpec{
		Store: name, Owner: owner, User: user, Image: image, PullPolicy: pull, Resources: res, CronEnabled: cron,
		Name: passwordResetPrefix + strconv.FormatInt(time.Now().Unix(), 36) + "-" + strings.ToLower(suffix),
	}, nil
}

// resetPassword writes a new password to the store's Secret, makes sure the
// reset's policies exist, deletes earlier reset Jobs and creates this one.
// Should the Job not be created, the Secret gets its old password back, so
// it keeps saying what WordPress has.
func (k *Kube) resetPassword(ctx context.Context, spec passwordResetSpec) (PasswordReset, error) {
	ns := Namespace(spec.Store)
	job := passwordResetJob(spec)
	if _, err := k.credentialsSecret(ctx, spec.Store); err != nil {
		return PasswordReset{}, err
	}
	if err := k.ensureResetPolicies(ctx, spec.Store, spec.Owner); err != nil {
		return PasswordReset{}, err
	}
	if err := k.deleteResetJobs(ctx, ns); err != nil {
		return PasswordReset{}, err
	}
	pw, err := randomString(32)
	if err != nil {
		return PasswordReset{}, fmt.Errorf("generate a password: %w", err)
	}
	old, err := k.setAdminPassword(ctx, ns, pw)
	if err != nil {
		return PasswordReset{}, err
	}
	if _, err := k.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
		err = fmt.Errorf("create job %s: %w", job.Name, describeAPIError(err))
		// Detached from ctx: a cancelled request must not leave the
		// Secret with a password WordPress never got.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, rerr := k.setAdminPassword(rctx, ns, old); rerr != nil {
			return PasswordReset{}, fmt.Errorf("%w; and the Secret could not get its old password back (%w): reset the password again", err, rerr)
		}
		return PasswordReset{}, err
	}
	return PasswordReset{Store: spec.Store, Username: spec.User, Password: pw, Job: job.Name}, nil
}

// ensureResetPolicies creates the reset's policies, or brings them back to
// what urumi wants when they were changed; as they are, they are left alone.
func (k *Kube) ensureResetPolicies(ctx context.Context, name, owner string) error {
	policies := k.Client.NetworkingV1().NetworkPolicies(Namespace(name))
	for _, p := range passwordResetPolicies(name, owner) {
		live, err := policies.Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("read networkpolicy %s: %w", p.Name, describeAPIError(err))
		case equality.Semantic.DeepEqual(live.Spec, p.Spec) && maps.Equal(live.Labels, p.Labels):
			continue
		}
		if err := ensure(ctx, k, gvrNetworkPolicy, policies, p); err != nil {
			return err
		}
	}
	return nil
}

// setAdminPassword writes pw as the administrator's password in the
// store's Secret and returns the one it replaced.
func (k *Kube) setAdminPassword(ctx context.Context, ns, pw string) (string, error) {
	secrets := k.Client.CoreV1().Secrets(ns)
	var old string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sec, err := secrets.Get(ctx, credentialsName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		old = string(sec.Data[charts.SecretKeyWordPressAdminPassword])
		sec.Data[charts.SecretKeyWordPressAdminPassword] = []byte(pw)
		_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("update secret %s: %w", credentialsName, describeAPIError(err))
	}
	return old, nil
}

// deleteResetJobs deletes earlier password reset Jobs and their pods: a
// reset still running would otherwise apply an older password after this
// one's.
func (k *Kube) deleteResetJobs(ctx context.Context, ns string) error {
	jobs := k.Client.BatchV1().Jobs(ns)
	l, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + charts.LabelComponent + "=" + ComponentPasswordReset})
	if err != nil {
		return fmt.Errorf("list the password reset jobs: %w", describeAPIError(err))
	}
	bg := metav1.DeletePropagationBackground
	for _, j := range l.Items {
		if err := jobs.Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete the earlier password reset job %s: %w", j.Name, describeAPIError(err))
		}
	}
	return nil
}

// isPasswordResetJob tells a reset Job made by urumi.
func isPasswordResetJob(j *batchv1.Job) bool {
	return j.Labels[LabelManagedBy] == ManagedBy && j.Labels[charts.LabelComponent] == ComponentPasswordReset &&
		strings.HasPrefix(j.Name, passwordResetPrefix)
}

// passwordResetScript applies the Secret's password to the administrator.
// The password reaches wp-cli on stdin (--prompt), never as an argument,
// and is never printed: no `set -x`, no echo of it. Plugins and themes are
// not loaded, so a broken one cannot stand in the way.
const passwordResetScript = `set -eu
cd /var/www/html
if [ ! -s wp-config.php ]; then
	echo "password reset: wp-config.php is not on the WordPress volume" >&2
	exit 1
fi
printf '%s\n' "$WP_ADMIN_PASSWORD" | php -d memory_limit=256M "$(command -v wp)" --path=/var/www/html \
	user update "$ADMIN_USER" --prompt=user_pass --skip-plugins --skip-themes
echo "password reset: the password of $ADMIN_USER is the Secret's"
`

// Seconds a reset Job may run, and stays after it ended.
const (
	passwordResetDeadline = 600
	passwordResetTTL      = 3600
)

// passwordResetJob builds the reset Job. Its pod passes the restricted Pod
// Security profile as the chart's wp-cli pods do: www-data, the runtime's
// default seccomp profile, no capabilities, no privilege escalation, a
// read-only root file system with an emptyDir for /tmp. It reads
// wp-config.php from the WordPress volume (read-only, on WordPress's node:
// the volume is ReadWriteOnce), the database settings and salts as
// WordPress does, and the new password from the Secret (secretKeyRef).
func passwordResetJob(spec passwordResetSpec) *batchv1.Job {
	ns := Namespace(spec.Store)
	labels := storeLabels(spec.Store, spec.Owner)
	labels[charts.LabelComponent] = ComponentPasswordReset
	secretEnv := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: credentialsName}, Key: key,
		}}}
	}
	env := []corev1.EnvVar{
		{Name: "ADMIN_USER", Value: spec.User},
		secretEnv("WP_ADMIN_PASSWORD", charts.SecretKeyWordPressAdminPassword),
		{Name: "HOME", Value: "/tmp"},
		{Name: "WP_CLI_CACHE_DIR", Value: "/tmp/wp-cli-cache"},
	}
	if spec.CronEnabled {
		env = append(env, corev1.EnvVar{Name: "WORDPRESS_CONFIG_EXTRA", Value: "define('DISABLE_WP_CRON', true);"})
	}
	env = append(env,
		corev1.EnvVar{Name: "WORDPRESS_DB_HOST", Value: "mariadb:" + strconv.Itoa(charts.MariaDBPort)},
		corev1.EnvVar{Name: "WORDPRESS_DB_NAME", Value: "wordpress"},
		corev1.EnvVar{Name: "WORDPRESS_DB_USER", Value: "wordpress"},
		secretEnv("WORDPRESS_DB_PASSWORD", charts.SecretKeyMariaDBPassword),
		secretEnv("WORDPRESS_AUTH_KEY", charts.SecretKeyAuthKey),
		secretEnv("WORDPRESS_SECURE_AUTH_KEY", charts.SecretKeySecureAuthKey),
		secretEnv("WORDPRESS_LOGGED_IN_KEY", charts.SecretKeyLoggedInKey),
		secretEnv("WORDPRESS_NONCE_KEY", charts.SecretKeyNonceKey),
		secretEnv("WORDPRESS_AUTH_SALT", charts.SecretKeyAuthSalt),
		secretEnv("WORDPRESS_SECURE_AUTH_SALT", charts.SecretKeySecureAuthSalt),
		secretEnv("WORDPRESS_LOGGED_IN_SALT", charts.SecretKeyLoggedInSalt),
		secretEnv("WORDPRESS_NONCE_SALT", charts.SecretKeyNonceSalt),
	)
	no := false
	tmpSize := resource.MustParse("64Mi")
	backoff, deadline, ttl := int32(0), int64(passwordResetDeadline), int32(passwordResetTTL)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: ns, Labels: labels},
		Spec: batchv1.JobSpec{
			// A failed run is not retried on its own: the person who
			// asked reads why and resets again.
			BackoffLimit:            &backoff,
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: &no,
					EnableServiceLinks:           &no,
					SecurityContext:              podsec.Pod(wordpressUID),
					Affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
								charts.LabelInstance: releaseName, charts.LabelComponent: charts.ComponentWordPress,
							}},
							TopologyKey: corev1.LabelHostname,
						}},
					}},
					Containers: []corev1.Container{{
						Name:                     ComponentPasswordReset,
						Image:                    spec.Image,
						ImagePullPolicy:          spec.PullPolicy,
						Command:                  []string{"/bin/sh", "-c", passwordResetScript, "urumi-password-reset"},
						WorkingDir:               "/var/www/html",
						Env:                      env,
						SecurityContext:          podsec.Container(),
						Resources:                spec.Resources,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						VolumeMounts: []corev1.VolumeMount{
							{Name: "data", MountPath: "/var/www/html", ReadOnly: true},
							{Name: "tmp", MountPath: "/tmp"},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: wordpressClaim, ReadOnly: true}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &tmpSize}}},
					},
				},
			},
		},
	}
}

// passwordResetPolicies open the store's MariaDB to the reset pod and
// nothing else: the pod may reach MariaDB's port (and the cluster's DNS,
// as every store pod may), MariaDB admits it on that port. Everything else
// stays denied by the namespace's default-deny.
func passwordResetPolicies(name, owner string) []*networkingv1.NetworkPolicy {
	ns := Namespace(name)
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt(charts.MariaDBPort)
	ports := []networkingv1.NetworkPolicyPort{{Port: &port, Protocol: &tcp}}
	component := func(c string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{charts.LabelComponent: c}}
	}
	policy := func(n string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns, Labels: storeLabels(name, owner)},
			Spec:       spec,
		}
	}
	mariadb, reset := component(charts.ComponentMariaDB), component(ComponentPasswordReset)
	return []*networkingv1.NetworkPolicy{
		policy(PolicyPasswordResetEgress, networkingv1.NetworkPolicySpec{
			PodSelector: reset,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &mariadb}}, Ports: ports}},
		}),
		policy(PolicyMariaDBFromPasswordReset, networkingv1.NetworkPolicySpec{
			PodSelector: mariadb,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &reset}}, Ports: ports}},
		}),
	}
}
