{{/*
Names. With release `kagi` every object is named as in deploy/base (kagi-webhook).
*/}}
{{- define "kagi.name" -}}
{{- default "kagi-webhook" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kagi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "webhook" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-webhook" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kagi.namespace" -}}
{{- default .Release.Namespace .Values.global.namespace -}}
{{- end -}}

{{/*
The Secret --tls-auto keeps the shared CA in: fixed in kagi-webhook (kagi_certs
DEFAULT_CA_SECRET), so one self-managed release per namespace.
*/}}
{{- define "kagi.caSecret" -}}kagi-webhook-ca{{- end -}}

{{- define "kagi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kagi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kagi.labels" -}}
{{ include "kagi.selectorLabels" . }}
app.kubernetes.io/part-of: kagi
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/*
vault-helm lets many values be either YAML or a string rendered with `tpl`. Call with
(dict "value" V "context" $); renders V as YAML, to be indented by the caller.
*/}}
{{- define "kagi.yamlOrTpl" -}}
{{- if kindIs "string" .value -}}
{{- tpl .value .context | trim -}}
{{- else -}}
{{- toYaml .value -}}
{{- end -}}
{{- end -}}

{{/*
The effective TLS mode: a vault-helm `injector.certs.secretName` means bring-your-own
unless cert-manager writes into that Secret.
*/}}
{{- define "kagi.tlsMode" -}}
{{- $mode := .Values.kagi.tls.mode -}}
{{- if and (eq $mode "self-managed") .Values.injector.certs.secretName -}}
secret
{{- else -}}
{{- $mode -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the serving certificate (cert-manager and secret modes). */}}
{{- define "kagi.tlsSecret" -}}
{{- default (printf "%s-tls" (include "kagi.fullname" .)) .Values.injector.certs.secretName -}}
{{- end -}}

{{- define "kagi.vaultAddr" -}}
{{- coalesce .Values.global.externalVaultAddr .Values.injector.externalVaultAddr "https://vault.vault.svc:8200" -}}
{{- end -}}

{{- define "kagi.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) -}}
{{- end -}}

{{/* kagi.agentFlavor, with `auto` decided by the agent image's repository. */}}
{{- define "kagi.agentFlavor" -}}
{{- $flavor := .Values.kagi.agentFlavor -}}
{{- if eq $flavor "auto" -}}
{{- $last := .Values.injector.agentImage.repository | splitList "/" | last -}}
{{- if has $last (list "vault" "openbao" "bao" "vault-enterprise") -}}vault{{- else -}}kagi{{- end -}}
{{- else -}}
{{- $flavor -}}
{{- end -}}
{{- end -}}

{{/*
Compatibility with vault-helm's own templated defaults (its affinity and objectSelector
strings call `template "vault.name"`): they render instead of failing the install.
*/}}
{{- define "vault.name" -}}{{ include "kagi.name" . }}{{- end -}}
{{- define "vault.fullname" -}}{{ include "kagi.fullname" . }}{{- end -}}
