// Package podsec builds the security contexts of the pods urumi runs in a
// store namespace itself (backups, restores, password resets): Pod
// Security's restricted profile, as the store chart's pods run.
package podsec

import corev1 "k8s.io/api/core/v1"

// Pod runs every container as uid (and group uid, owning mounted volumes,
// changed only when the volume's root does not match), never as root,
// under the runtime's default seccomp profile.
func Pod(uid int64) *corev1.PodSecurityContext {
	yes := true
	changePolicy := corev1.FSGroupChangeOnRootMismatch
	return &corev1.PodSecurityContext{
		RunAsNonRoot:        &yes,
		RunAsUser:           &uid,
		RunAsGroup:          &uid,
		FSGroup:             &uid,
		FSGroupChangePolicy: &changePolicy,
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// Container drops every capability, forbids gaining privileges and keeps
// the root file system read-only.
func Container() *corev1.SecurityContext {
	no, yes := false, true
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &no,
		ReadOnlyRootFilesystem:   &yes,
		RunAsNonRoot:             &yes,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}
