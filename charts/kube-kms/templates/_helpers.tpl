{{- define "kube-kms.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kube-kms.labels" -}}
app.kubernetes.io/name: kube-kms
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kube-kms.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Containers run unprivileged, read-only, with no capabilities. */}}
{{- define "kube-kms.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* What the endpoint may do with keys, aliases and Secrets: cluster-wide,
     or in watchNamespace only. */}}
{{- define "kube-kms.apiRules" -}}
- apiGroups: [kubekms.io]
  resources: [kmskeys, kmsaliases, kmsgrants]
  verbs: [get, list, watch]
# Watched with label selectors: key Secrets and access-key Secrets only.
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch]
# Changes through the AWS API become objects the controller carries out;
# grants are objects the endpoint reads back itself.
- apiGroups: [kubekms.io]
  resources: [kmskeys, kmsaliases]
  verbs: [create, patch, delete]
- apiGroups: [kubekms.io]
  resources: [kmsgrants]
  verbs: [create, delete]
# Each key's last use (GetKeyLastUsage), in its own field of the status.
- apiGroups: [kubekms.io]
  resources: [kmskeys/status]
  verbs: [patch]
{{- end -}}

{{/* The namespaces watchNamespace lists (commas between them), separated
     by spaces; nothing for every namespace. */}}
{{- define "kube-kms.watchNamespaces" -}}
{{- range $name := splitList "," .Values.watchNamespace }}{{ with trim $name }}{{ . }} {{ end }}{{ end -}}
{{- end -}}
