"""A realistic app, written the way public projects write their manifests: quantities in every form, zero
values the server omits, server defaults inside list items, probes, fieldRef env, configMap and hostPath
volumes, a StatefulSet with volumeClaimTemplates, a DaemonSet, a Job, a CronJob, NetworkPolicies with ports,
an Ingress, a PriorityClass, a PDB, RBAC, a Secret with stringData and an HPA.

Cluster-scoped objects carry ``suffix`` in their names, so that the app can be applied into several
namespaces of one cluster (once by gitapply, once by kubectl)."""

from __future__ import annotations

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app.kubernetes.io/name: web, app.kubernetes.io/part-of: shop}
spec:
  replicas: 2
  minReadySeconds: 0
  revisionHistoryLimit: 5
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {}
    spec:
      priorityClassName: shop-high-{suffix}
      serviceAccountName: shop
      containers:
      - name: web
        image: nginx:1.19
        ports:
        - {name: http, containerPort: 80}
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: LEVEL
          valueFrom: {configMapKeyRef: {name: settings, key: level}}
        resources:
          requests: {cpu: "0.5", memory: 1024Mi, ephemeral-storage: 100M}
          limits: {cpu: 2000m, memory: 2Gi}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
        livenessProbe:
          tcpSocket: {port: 80}
          initialDelaySeconds: 5
        volumeMounts:
        - {name: config, mountPath: /etc/web}
        - {name: logs, mountPath: /var/log/web}
      volumes:
      - name: config
        configMap: {name: settings}
      - name: logs
        hostPath: {path: /var/log/web}
"""

API = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: nginx:1.19
        args: ["--port", "8080"]
"""

HPA = """\
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata:
  name: api
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 2
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
"""

ZOOKEEPER = """\
apiVersion: v1
kind: Service
metadata:
  name: zk
spec:
  clusterIP: None
  selector: {app: zk}
  ports:
  - {name: client, port: 2181}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: zk
spec:
  serviceName: zk
  replicas: 1
  selector:
    matchLabels: {app: zk}
  template:
    metadata:
      labels: {app: zk}
    spec:
      containers:
      - name: zk
        image: zookeeper:3.6
        ports:
        - {containerPort: 2181, name: client}
        resources:
          requests: {cpu: 250m, memory: 0.5Gi}
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
"""

LOGS = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: logs
spec:
  selector:
    matchLabels: {app: logs}
  template:
    metadata:
      labels: {app: logs}
    spec:
      tolerations:
      - {operator: Exists, effect: NoSchedule}
      containers:
      - name: shipper
        image: fluent/fluent-bit:1.8
        resources:
          limits: {memory: 200Mi}
          requests: {cpu: 100m, memory: 0.1Gi}
        volumeMounts:
        - {name: varlog, mountPath: /var/log, readOnly: true}
      volumes:
      - name: varlog
        hostPath: {path: /var/log}
"""

BATCH = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox:1.33
        command: [sh, -c, "echo migrated"]
---
apiVersion: batch/v1beta1
kind: CronJob
metadata:
  name: report
spec:
  schedule: "0 3 1 1 *"
  suspend: false
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox:1.33
            args: [echo, report]
"""

NETWORK = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector: {}
    ports:
    - port: 80
    - port: 443
  egress:
  - ports:
    - {port: 53, protocol: UDP}
    - port: 53
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: web, port: {number: 80}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"""

POLICY = """\
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: shop-high-{suffix}
value: 1000
globalDefault: false
description: shop's own pods
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: web}
"""

ACCESS = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: shop
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: shop-reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: shop-reader
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: shop-reader}
subjects:
- {kind: ServiceAccount, name: shop}
"""

CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: info
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
"""


def files(suffix: str) -> dict[str, str]:
    """The app's files; ``suffix`` makes cluster-scoped names unique."""
    texts = {"web.yaml": WEB, "api.yaml": API, "hpa.yaml": HPA, "zookeeper.yaml": ZOOKEEPER, "logs.yaml": LOGS,
             "batch.yaml": BATCH, "network.yaml": NETWORK, "policy.yaml": POLICY, "access.yaml": ACCESS,
             "config.yaml": CONFIG}
    return {name: text.replace("{suffix}", suffix) for name, text in texts.items()}


OBJECT_COUNT = 18
