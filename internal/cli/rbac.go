package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/urumi/urumi/internal/provision"
)

// rbacOptions name who the printed ClusterRole is bound to, and whom the
// admission policy holds to the stores' namespaces.
type rbacOptions struct {
	common
	name           string
	user           string
	group          string
	serviceAccount string

	// Complete and Validate resolve these.
	BaseDomain string
	Subject    rbacv1.Subject
}

func newRBACCommand(f *Factory, runF func(*rbacOptions) error) *cobra.Command {
	o := &rbacOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "Print the permissions urumi needs, and the policy that confines them, for kubectl apply",
		Long: `Print, as YAML for kubectl apply (run it as a cluster admin), four objects
for the identity urumi acts as (a user, a group or a service account):

  - a ClusterRole of exactly what urumi does on the cluster (the permissions
    every store command checks before it starts), and a ClusterRoleBinding
    that grants it to that identity;
  - a ValidatingAdmissionPolicy, and its binding, with which the API server
    itself refuses that identity any write outside the namespaces of its
    stores (named store-<name> and labelled as urumi's), any namespace that
    does not enforce the restricted Pod Security level, Services other than
    ClusterIP, Ingresses for any host but <store>.<base-domain>, and objects
    a store's release would put in another store's namespace.

The policy applies to that identity alone, and takes the base domain from
urumi's configuration (--base-domain): print and apply it again when that
changes. Admission policies take effect a few seconds after they are
applied.`,
		Example: `  urumi rbac --user ci-bot | kubectl apply -f -
  urumi rbac --service-account urumi-system/urumi --base-domain shops.example.com | kubectl apply -f -`,
		GroupID: "admin",
		Args:    cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	flags := cmd.Flags()
	flags.StringVar(&o.name, "name", "urumi", "name of the ClusterRole, the admission policy and their bindings")
	flags.StringVar(&o.user, "user", "", "bind the role to this user (as the kubeconfig authenticates it)")
	flags.StringVar(&o.group, "group", "", "bind the role to this group")
	flags.StringVar(&o.serviceAccount, "service-account", "", "bind the role to this service account, as NAMESPACE/NAME")
	cmd.MarkFlagsOneRequired("user", "group", "service-account")
	cmd.MarkFlagsMutuallyExclusive("user", "group", "service-account")
	return cmd
}

func (o *rbacOptions) Complete(f *Factory, _ *cobra.Command, _ []string) error {
	o.BaseDomain = f.Config.BaseDomain
	return nil
}

func (o *rbacOptions) Validate() error {
	subject, err := o.subject()
	if err != nil {
		return usageError{err}
	}
	o.Subject = subject
	return nil
}

func (o *rbacOptions) Run(context.Context) error {
	return printRBAC(o.Streams.Out, o.name, o.Subject, o.BaseDomain)
}

func (o *rbacOptions) subject() (rbacv1.Subject, error) {
	switch {
	case o.user != "":
		return rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: o.user}, nil
	case o.group != "":
		return rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: o.group}, nil
	}
	ns, name, ok := strings.Cut(o.serviceAccount, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return rbacv1.Subject{}, fmt.Errorf("--service-account %q: give it as NAMESPACE/NAME, e.g. urumi-system/urumi", o.serviceAccount)
	}
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}, nil
}

// printRBAC writes the ClusterRole, its binding, the admission policy and
// its binding as one YAML stream.
func printRBAC(w io.Writer, name string, subject rbacv1.Subject, baseDomain string) error {
	objs, err := provision.AccessObjects(name, subject, baseDomain)
	if err != nil {
		return err
	}
	var docs []string
	for _, obj := range objs {
		y, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encode %T: %w", obj, err)
		}
		docs = append(docs, string(y))
	}
	_, err = io.WriteString(w, strings.Join(docs, "---\n"))
	return err
}
