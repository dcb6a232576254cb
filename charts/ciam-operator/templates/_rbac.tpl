{{/*
The operator's permissions on the namespaces it watches. One list for the ClusterRole
(cluster mode) and for each namespace's Role (namespaced mode, watchNamespaces set), so both
modes grant the same verbs. Every rule names the code path that needs it.
Call with (dict "clusterWide" true|false).
*/}}
{{- define "ciam-operator.watchRules" -}}
# The four controllers (src/controller/mod.rs run_controllers) list and watch their kind, read
# referenced objects (references.rs: a tenantRef's CustomerTenant; user_flow.rs: the
# AppRegistrations a flow serves) and add/remove the ciam.dev/cleanup finalizer by JSON patch
# (kube::runtime::finalizer). No create, update or delete: the operator never writes spec.
- apiGroups: ["ciam.dev"]
  resources: ["customertenants", "appregistrations", "userflows", "brandings"]
  verbs: ["get", "list", "watch", "patch"]
# Status: written by server-side apply (mod.rs write_status, and report_invalid for an object
# that cannot be decoded, which first reads it): PATCH and GET on /status.
- apiGroups: ["ciam.dev"]
  resources: ["customertenants/status", "appregistrations/status", "userflows/status", "brandings/status"]
  verbs: ["get", "patch"]
# A credentials Secret carries a controller ownerReference to its AppRegistration with
# blockOwnerDeletion (app_registration.rs); the OwnerReferencesPermissionEnforcement admission
# plugin allows that only to a client that may update the owner's finalizers.
- apiGroups: ["ciam.dev"]
  resources: ["appregistrations/finalizers"]
  verbs: ["update"]
# Secrets:
# - credentials Secrets are written by server-side apply (app_registration.rs), which is a
#   PATCH that creates the object when missing: create + patch; never update or delete (owned
#   Secrets go by garbage collection);
# - get: credentials.existingSecretRef and credentials.certificates[].secretKeyRef
#   (app_registration) and the tenant's email.smtpSecretRef (customer_tenant.rs) are read;
# - list + watch: the AppRegistration controller watches the Secrets it owns (label selector
#   app.kubernetes.io/managed-by=ciam-operator) and the metadata of the Secrets it reads (to
#   notice a changed certificate or brought secret), and the CustomerTenant controller watches
#   Secret metadata to notice SMTP Secret changes. RBAC cannot restrict a verb to a label
#   selector, so these verbs cover every Secret in the watched namespaces.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Branding reads logos, images and custom CSS from ConfigMaps (branding.rs), AppRegistration
# reads public certificates (credentials.certificates[].configMapKeyRef); both watch
# ConfigMap metadata to re-reconcile when one changes. Read-only.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
{{- if .clusterWide }}
# A tenant's spec.allowedNamespaces.selector is matched against the labels of the referring
# object's namespace (references.rs namespace_allowed). Cluster mode only: with namespaced RBAC
# the operator reports that the selector cannot be evaluated (use from: All or Same).
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
{{- end }}
# Events (Reconciled, DriftCorrected, errors) through kube-runtime's events Recorder, which
# creates an events.k8s.io/v1 Event and patches it when the same event repeats.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
