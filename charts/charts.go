// Package charts embeds the Helm charts urumi installs and names the
// contract between them and urumi's provisioning code: the keys of the
// credentials Secret, the pod labels NetworkPolicies select on, the ports.
package charts

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

//go:embed all:store
var storeFS embed.FS

// StoreChartName is the name in the store chart's Chart.yaml.
const StoreChartName = "woocommerce-store"

// Keys of the store's credentials Secret, which urumi creates before it
// installs the chart and the chart reads through secretKeyRef. The Secret's
// name is the chart value credentialsSecret.
const (
	SecretKeyMariaDBRootPassword    = "mariadb-root-password"
	SecretKeyMariaDBPassword        = "mariadb-password"
	SecretKeyWordPressAdminPassword = "wordpress-admin-password"
	SecretKeyAuthKey                = "auth-key"
	SecretKeySecureAuthKey          = "secure-auth-key"
	SecretKeyLoggedInKey            = "logged-in-key"
	SecretKeyNonceKey               = "nonce-key"
	SecretKeyAuthSalt               = "auth-salt"
	SecretKeySecureAuthSalt         = "secure-auth-salt"
	SecretKeyLoggedInSalt           = "logged-in-salt"
	SecretKeyNonceSalt              = "nonce-salt"
)

// SecretKeys returns every key the credentials Secret must hold.
func SecretKeys() []string {
	return []string{
		SecretKeyMariaDBRootPassword,
		SecretKeyMariaDBPassword,
		SecretKeyWordPressAdminPassword,
		SecretKeyAuthKey,
		SecretKeySecureAuthKey,
		SecretKeyLoggedInKey,
		SecretKeyNonceKey,
		SecretKeyAuthSalt,
		SecretKeySecureAuthSalt,
		SecretKeyLoggedInSalt,
		SecretKeyNonceSalt,
	}
}

// Labels on every pod of a store. NetworkPolicies select pods by them:
// LabelInstance is the Helm release name, LabelManagedBy is "Helm",
// LabelPartOf is PartOfStore and LabelComponent one of the Component values.
const (
	LabelInstance  = "app.kubernetes.io/instance"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"

	PartOfStore = "urumi-store"

	ComponentWordPress = "wordpress"
	ComponentMariaDB   = "mariadb"
	ComponentSetup     = "setup"
	// ComponentCron labels the pods of the CronJob that runs WP-Cron.
	ComponentCron = "cron"
)

// Container ports a store's NetworkPolicies must allow: the ingress
// controller to WordPress; WordPress, the setup Job and the cron job to
// MariaDB.
const (
	WordPressPort = 8080
	MariaDBPort   = 3306
)

// Store loads the embedded store chart. Each call returns a new copy, so a
// caller may change it.
func Store() (*chart.Chart, error) {
	return load(storeFS, "store")
}

// load reads the chart under dir of fsys with Helm's loader, as Helm would
// read it from an unpacked archive.
func load(fsys fs.FS, dir string) (*chart.Chart, error) {
	var files []*archive.BufferedFile
	err := fs.WalkDir(fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{
			Name: strings.TrimPrefix(name, path.Clean(dir)+"/"),
			Data: data,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart %s: %w", dir, err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart %s: %w", dir, err)
	}
	return c, nil
}
