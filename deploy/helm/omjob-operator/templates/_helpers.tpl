{{/* Names and labels -------------------------------------------------------------------- */}}
{{- define "omjob-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "omjob-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "omjob-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "omjob-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "omjob-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "omjob-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "omjob-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "omjob-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Settings derived from several values -------------------------------------------------- */}}
{{- define "omjob-operator.leaderElect" -}}
{{- if or (gt (int .Values.replicas) 1) .Values.leaderElection.enabled }}true{{ else }}false{{ end }}
{{- end }}

{{- define "omjob-operator.leaseName" -}}
{{- default (printf "%s-leader" (include "omjob-operator.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "omjob-operator.controllers" -}}
{{- $c := list }}
{{- range $k := list "omjob" "cronomjob" "observatory" "seqjob" }}
{{- if index $.Values.controllers $k }}{{ $c = append $c $k }}{{ end }}
{{- end }}
{{- if not $c }}{{ fail "controllers: enable at least one of omjob, cronomjob, observatory, seqjob" }}{{ end }}
{{- join "," $c }}
{{- end }}

{{- define "omjob-operator.image" -}}
{{- $img := .Values.image }}
{{- if $img.digest }}
{{- $d := trimPrefix "sha256:" $img.digest }}
{{- if not (regexMatch "^[a-f0-9]{64}$" $d) }}{{ fail "image.digest must be sha256:<64 lowercase hex>" }}{{ end }}
{{- printf "%s@sha256:%s" $img.repository $d }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion ($img.tag | toString)) }}
{{- end }}
{{- end }}

{{/*
The namespaced rules, exactly the verbs each enabled controller uses (no wildcards). Used by the
ClusterRole (all namespaces) or by one Role per watched namespace. Nodes (cluster-scoped) and the
leader Lease (release namespace) have their own roles in rbac.yaml.
  - pods: the operator watches its own pods (label selector) and creates/deletes step pods.
    pods/log is not needed (only the `pipeline logs` CLI reads logs, with the user's kubeconfig).
  - events: create, and patch to bump the count of a repeated event.
  - <kind>/finalizers update: required by OwnerReferencesPermissionEnforcement to set
    blockOwnerDeletion in the ownerReferences of the pods/OMJobs/Jobs a controller creates.
*/}}
{{- define "omjob-operator.rules" -}}
{{- $c := .Values.controllers -}}
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- if or $c.omjob $c.cronomjob }}
{{- /* omjob: update/patch (finalizers), delete (TTL); cronomjob: create/delete its runs */}}
{{- $v := list "get" "list" "watch" }}
{{- if $c.cronomjob }}{{ $v = append $v "create" }}{{ end }}
{{- if $c.omjob }}{{ $v = concat $v (list "update" "patch") }}{{ end }}
{{- $v = append $v "delete" }}
- apiGroups: [pipelines.openmetadata.org]
  resources: [omjobs]
  verbs: [{{ join ", " $v }}]
{{- end }}
{{- if $c.omjob }}
- apiGroups: [pipelines.openmetadata.org]
  resources: [omjobs/status]
  verbs: [get, update, patch]
- apiGroups: [pipelines.openmetadata.org]
  resources: [omjobs/finalizers]
  verbs: [update]
{{- end }}
{{- if $c.cronomjob }}
- apiGroups: [pipelines.openmetadata.org]
  resources: [cronomjobs]
  verbs: [get, list, watch, update, patch]
- apiGroups: [pipelines.openmetadata.org]
  resources: [cronomjobs/status]
  verbs: [get, update, patch]
- apiGroups: [pipelines.openmetadata.org]
  resources: [cronomjobs/finalizers]
  verbs: [update]
{{- end }}
{{- if $c.observatory }}
- apiGroups: [workflow.seventh-horizon.io]
  resources: [observatories]
  verbs: [get, list, watch, update, patch]
- apiGroups: [workflow.seventh-horizon.io]
  resources: [observatories/status]
  verbs: [get, update, patch]
- apiGroups: [workflow.seventh-horizon.io]
  resources: [observatories/finalizers]
  verbs: [update]
{{- end }}
{{- if $c.seqjob }}
- apiGroups: [batch.example.com]
  resources: [sequentialjobs]
  verbs: [get, list, watch, update, patch]
- apiGroups: [batch.example.com]
  resources: [sequentialjobs/status]
  verbs: [get, update, patch]
- apiGroups: [batch.example.com]
  resources: [sequentialjobs/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
{{- end }}
{{- end }}
