package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

type doctorOptions struct {
	common
	out  *outputFlag
	Kube func() (*provision.Kube, error)
}

func newDoctorCommand(f *Factory, runF func(*doctorOptions) error) *cobra.Command {
	o := &doctorOptions{common: f.common(), Kube: func() (*provision.Kube, error) { return f.Kube(f.quietLogger()) }}
	cmd := &cobra.Command{
		Use:     "doctor",
		GroupID: "admin",
		Short:   "Tell whether the cluster is fit for stores",
		Long: `Look at the kubeconfig's cluster before the first store and say what is
missing, with the fix:

  - the API server's version, within one minor version of urumi's client;
  - the configured IngressClass, and the ingress controller's namespace
    (the ingress-namespace setting) that stores admit traffic from;
    with --route gateway, the Gateway instead: that it exists, has the
    --gateway-section listener, and admits routes from other namespaces;
  - a default StorageClass for the stores' volumes;
  - cert-manager's ClusterIssuer, when TLS is configured;
  - Pod Security admission enforced: a privileged pod is refused, in a dry
    run that leaves nothing behind, in a namespace labelled restricted;
  - urumi's own permissions;
  - and, honestly, that no API can prove the network plugin enforces
    NetworkPolicy, with a command that tests it.

Exits 6 naming what is missing when a check fails.`,
		Args: noArgs,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *doctorOptions) Complete(*Factory, *cobra.Command, []string) error { return nil }
func (o *doctorOptions) Validate() error                                   { return nil }

func (o *doctorOptions) Run(ctx context.Context) error {
	k, err := o.Kube()
	if err != nil {
		return err
	}
	r := k.Doctor(ctx)
	if err := o.printer(o.out).print(r, doctorTable(r)); err != nil {
		return err
	}
	if failed := r.Failed(); len(failed) > 0 {
		return checkFailed{fmt.Sprintf("the cluster is not ready for stores: %s failed: see each FIX", strings.Join(failed, ", "))}
	}
	return nil
}

func doctorTable(r provision.DoctorReport) func(*table) {
	return func(t *table) {
		t.headers("STATUS", "CHECK", "MESSAGE", "FIX")
		for _, f := range r.Findings {
			t.row(t.term.checkText(f.Status), f.Kind, oneLine(f.Message), oneLine(f.Fix))
		}
	}
}
