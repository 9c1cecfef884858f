{{/*
Required values, checked wherever they are used so that a missing one fails
the render with a message that says what to set.
*/}}
{{- define "store.credentialsSecret" -}}
{{- required "credentialsSecret is required: set it to the name of the Secret that holds the store's credentials (urumi creates it before installing)" .Values.credentialsSecret -}}
{{- end }}

{{- define "store.host" -}}
{{- $host := required "host is required: set it to the store's public host name, <name>.<base domain>" .Values.host -}}
{{- if and $host (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $host)) -}}
{{- fail (printf "host %q is not a valid DNS name: use lowercase letters, digits, '-' and '.'" $host) -}}
{{- end -}}
{{- $host -}}
{{- end }}

{{/*
Site URL: https when a TLS issuer is configured, unless site.scheme says otherwise.
*/}}
{{- define "store.scheme" -}}
{{- $scheme := .Values.site.scheme | default (ternary "https" "http" (not (empty .Values.ingress.tlsIssuer))) -}}
{{- if not (has $scheme (list "http" "https")) -}}
{{- fail (printf "site.scheme %q is invalid: use http, https or leave it empty" $scheme) -}}
{{- end -}}
{{- $scheme -}}
{{- end }}

{{- define "store.url" -}}
{{- include "store.scheme" . }}://{{ include "store.host" . }}
{{- end }}

{{- define "store.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/*
Selector labels of one component. NetworkPolicies created by urumi select
pods by instance, part-of, managed-by and component.
Call with (dict "ctx" $ "component" "wordpress").
*/}}
{{- define "store.selectorLabels" -}}
app.kubernetes.io/instance: {{ .ctx.Release.Name | quote }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{/*
Pod labels: the selector labels and the labels urumi's NetworkPolicies use.
Chart and app versions are left out so that a chart bump alone does not
restart pods.
*/}}
{{- define "store.podLabels" -}}
{{ include "store.selectorLabels" . }}
app.kubernetes.io/name: {{ .ctx.Chart.Name | quote }}
app.kubernetes.io/part-of: urumi-store
app.kubernetes.io/managed-by: {{ .ctx.Release.Service | quote }}
{{- end }}

{{/*
Labels of every object. Call with (dict "ctx" $ "component" "wordpress").
*/}}
{{- define "store.labels" -}}
{{ include "store.podLabels" . }}
helm.sh/chart: {{ include "store.chart" .ctx | quote }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{- end }}

{{/*
Image reference. Call with one of .Values.images.*; quote the result where
it is used (the schema restricts each part, the quoting keeps it one scalar).
*/}}
{{- define "store.image" -}}
{{- .repository }}{{ with .tag }}:{{ . }}{{ end }}{{ with .digest }}@{{ . }}{{ end }}
{{- end }}

{{/*
Pod-level security context: non-root, default seccomp profile, volumes
group-owned by the container's group. Passes Pod Security "restricted".
Call with the uid (33 for www-data, 999 for mysql).
*/}}
{{- define "store.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . | int }}
runAsGroup: {{ . | int }}
fsGroup: {{ . | int }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "store.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
{{- end }}

{{/*
An environment variable read from the credentials Secret.
Call with (dict "ctx" $ "name" "ENV_NAME" "key" "secret-key").
*/}}
{{- define "store.secretEnv" -}}
- name: {{ .name | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ include "store.credentialsSecret" .ctx | quote }}
      key: {{ .key | quote }}
{{- end }}

{{/*
Environment of the official wordpress image's wp-config.php, shared by the
WordPress container, the setup Job and the cron job so that all see the
same database, the same keys and salts and the same settings. With the
cron job on, page loads no longer run WP-Cron: the image's wp-config.php
evaluates WORDPRESS_CONFIG_EXTRA, a fixed string here. The Secret's keys
are written as store.secretEnv writes one, in a loop: the environment is
rendered three times a store, and its 18 includes a time were a third of
the includes of a render.
*/}}
{{- define "store.wordpressEnv" -}}
{{- if .Values.cron.enabled -}}
- name: WORDPRESS_CONFIG_EXTRA
  value: "define('DISABLE_WP_CRON', true);"
{{ end -}}
- name: WORDPRESS_DB_HOST
  value: mariadb:3306
- name: WORDPRESS_DB_NAME
  value: wordpress
- name: WORDPRESS_DB_USER
  value: wordpress
{{- $secret := include "store.credentialsSecret" . | quote }}
{{- range list
  (list "WORDPRESS_DB_PASSWORD" "mariadb-password")
  (list "WORDPRESS_AUTH_KEY" "auth-key")
  (list "WORDPRESS_SECURE_AUTH_KEY" "secure-auth-key")
  (list "WORDPRESS_LOGGED_IN_KEY" "logged-in-key")
  (list "WORDPRESS_NONCE_KEY" "nonce-key")
  (list "WORDPRESS_AUTH_SALT" "auth-salt")
  (list "WORDPRESS_SECURE_AUTH_SALT" "secure-auth-salt")
  (list "WORDPRESS_LOGGED_IN_SALT" "logged-in-salt")
  (list "WORDPRESS_NONCE_SALT" "nonce-salt") }}
- name: {{ index . 0 | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ index . 1 | quote }}
{{- end }}
{{- end }}

{{/*
Scheduling of a pod that mounts the WordPress volume besides WordPress:
the volume is ReadWriteOnce, so the pod must run on the WordPress pod's
node.
*/}}
{{- define "store.wordpressNodeAffinity" -}}
podAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - labelSelector:
        matchLabels:
          {{- include "store.selectorLabels" (dict "ctx" . "component" "wordpress") | nindent 10 }}
      topologyKey: kubernetes.io/hostname
{{- end }}
