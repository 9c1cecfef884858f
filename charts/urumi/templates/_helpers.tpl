{{/*
Names. Every name that reaches the admission policy's CEL expressions
(the RBAC name, the namespace, the service account, the base domain) is
validated here as a DNS name, whatever the schema let through, so it can
end neither a YAML scalar nor a CEL string literal.
*/}}
{{- define "urumi.fullname" -}}
{{- $name := .Values.fullnameOverride | default (ternary .Release.Name (printf "%s-urumi" .Release.Name) (contains "urumi" .Release.Name)) -}}
{{- $name | trunc 52 | trimSuffix "-" -}}
{{- end }}

{{- define "urumi.dnsLabel" -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" .value) -}}
{{- fail (printf "%s %q is invalid: use 1-63 lowercase letters, digits and '-'" .what .value) -}}
{{- end -}}
{{- .value -}}
{{- end }}

{{- define "urumi.dnsSubdomain" -}}
{{- if or (gt (len .value) 253) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" .value)) -}}
{{- fail (printf "%s %q is invalid: use lowercase letters, digits, '-' and '.', at most 253" .what .value) -}}
{{- end -}}
{{- .value -}}
{{- end }}

{{- define "urumi.namespace" -}}
{{- include "urumi.dnsLabel" (dict "what" "release namespace" "value" .Release.Namespace) -}}
{{- end }}

{{- define "urumi.serviceAccountName" -}}
{{- include "urumi.dnsSubdomain" (dict "what" "serviceAccount.name" "value" (.Values.serviceAccount.name | default (include "urumi.fullname" .))) -}}
{{- end }}

{{- define "urumi.rbacName" -}}
{{- include "urumi.dnsSubdomain" (dict "what" "rbac.name" "value" (.Values.rbac.name | default (printf "%s-%s" .Release.Namespace (include "urumi.fullname" .)))) -}}
{{- end }}

{{/*
The base domain without the leading '.' urumi also accepts.
*/}}
{{- define "urumi.baseDomain" -}}
{{- $domain := required "config.baseDomain is required: set it to the domain stores are served under (stores get <name>.<baseDomain>)" .Values.config.baseDomain | trimPrefix "." -}}
{{- /* Empty only under helm lint, where required lets a missing value pass. */ -}}
{{- if $domain -}}
{{- include "urumi.dnsSubdomain" (dict "what" "config.baseDomain" "value" $domain) -}}
{{- end -}}
{{- end }}

{{- define "urumi.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{- define "urumi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/*
Selector labels of urumi's pods.
*/}}
{{- define "urumi.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/*
Labels of every object but the RBAC ones, whose managed-by label is urumi's
as "urumi rbac" prints it.
*/}}
{{- define "urumi.rbacLabels" -}}
{{ include "urumi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: urumi
helm.sh/chart: {{ include "urumi.chart" . | quote }}
{{- end }}

{{- define "urumi.labels" -}}
{{ include "urumi.rbacLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}
