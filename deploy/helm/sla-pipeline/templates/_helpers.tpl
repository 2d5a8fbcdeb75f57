{{- define "sla.fullname" -}}
{{- printf "%s" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "sla.labels" -}}
app.kubernetes.io/name: sla-pipeline
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sla.selector" -}}
app.kubernetes.io/name: sla-pipeline
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sla.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Kafka settings every container shares; secrets are files under /etc/sla-pipeline/secrets. */}}
{{- define "sla.kafkaEnv" -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.saslMechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ required "kafka.saslUsername is needed for SASL" .Values.kafka.saslUsername | quote }}
- name: KAFKA_SASL_PASSWORD_FILE
  value: /etc/sla-pipeline/secrets/kafka-password/{{ .Values.kafka.saslPasswordSecret.key }}
{{- end }}
{{- if .Values.kafka.caSecret.name }}
- name: KAFKA_SSL_CA_FILE
  value: /etc/sla-pipeline/secrets/kafka-ca/{{ .Values.kafka.caSecret.key }}
{{- end }}
{{- if .Values.kafka.clientCertSecret.name }}
- name: KAFKA_SSL_CERT_FILE
  value: /etc/sla-pipeline/secrets/kafka-client/tls.crt
- name: KAFKA_SSL_KEY_FILE
  value: /etc/sla-pipeline/secrets/kafka-client/tls.key
{{- end }}
- name: KAFKA_SSL_CHECK_HOSTNAME
  value: {{ .Values.kafka.checkHostname | quote }}
- name: SLA_APP_ID
  value: {{ .Values.app.id | quote }}
- name: SLA_LOG_LEVEL
  value: {{ .Values.app.logLevel | quote }}
- name: SLA_WEB_HOST
  value: "0.0.0.0"
{{- if .Values.policy }}
- name: SLA_POLICY_FILE
  value: /etc/sla-pipeline/policy/policy.toml
{{- end }}
{{- range $key, $value := .Values.app.extraEnv }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "sla.secretVolumes" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: kafka-password
  secret:
    secretName: {{ required "kafka.saslPasswordSecret.name: an existing Secret with the SASL password" .Values.kafka.saslPasswordSecret.name }}
    defaultMode: 0400
{{- end }}
{{- if .Values.kafka.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret.name }}
{{- end }}
{{- if .Values.kafka.clientCertSecret.name }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.clientCertSecret.name }}
    defaultMode: 0400
{{- end }}
{{- if .Values.policy }}
- name: policy
  configMap:
    name: {{ include "sla.fullname" . }}-policy
{{- end }}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "sla.secretMounts" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: kafka-password
  mountPath: /etc/sla-pipeline/secrets/kafka-password
  readOnly: true
{{- end }}
{{- if .Values.kafka.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/sla-pipeline/secrets/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.clientCertSecret.name }}
- name: kafka-client
  mountPath: /etc/sla-pipeline/secrets/kafka-client
  readOnly: true
{{- end }}
{{- if .Values.policy }}
- name: policy
  mountPath: /etc/sla-pipeline/policy
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "sla.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "sla.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* The Secret holding the token of the workers' private pages (/stackrank, /reports/...), or "" when they
are open. workers.stackrankTokenSecret is the older name of workers.reportsToken.existingSecret (and key). */}}
{{- define "sla.reportsTokenSecret" -}}
{{- $token := .Values.workers.reportsToken -}}
{{- $older := dig "stackrankTokenSecret" "name" "" .Values.workers -}}
{{- $existing := $token.existingSecret | default $older -}}
{{- if and .Values.workers.reportsOpen $existing -}}
{{- fail "workers.reportsOpen and workers.reportsToken.existingSecret exclude each other: either the private pages need a token or they are open to anyone (SLA_REPORTS_OPEN and SLA_REPORTS_TOKEN_FILE)" -}}
{{- else if .Values.workers.reportsOpen -}}
{{- else if $existing -}}
{{ $existing }}
{{- else if $token.create -}}
{{ include "sla.fullname" . }}-reports-token
{{- end -}}
{{- end -}}

{{- define "sla.reportsTokenKey" -}}
{{- if and (not .Values.workers.reportsToken.existingSecret) (dig "stackrankTokenSecret" "name" "" .Values.workers) -}}
{{ dig "stackrankTokenSecret" "key" "token" .Values.workers }}
{{- else -}}
{{ .Values.workers.reportsToken.key }}
{{- end -}}
{{- end -}}
