{{/* The name of every object (and of the Lease): "vpnaas-operator", as in deploy/. */}}
{{- define "vpnaas-operator.fullname" -}}
{{- .Values.fullnameOverride | default "vpnaas-operator" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vpnaas-operator.labels" -}}
app.kubernetes.io/name: vpnaas-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels: the same as deploy/ (a Deployment's selector is immutable). */}}
{{- define "vpnaas-operator.selectorLabels" -}}
app.kubernetes.io/name: vpnaas-operator
app.kubernetes.io/component: operator
{{- end -}}
