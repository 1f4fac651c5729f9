#!/bin/sh
# Print a Kubernetes Job that runs `vies dlq ARGS...` (list or replay dead
# letters) with the operators' Kafka user vies-ops, in the restricted security
# context of every VIES pod. Create it and follow its output:
#
#   deploy/k8s/hack/vies-dlq-job.sh IMAGE list --service missions \
#     | kubectl -n vies create -f - -o name        # prints job.batch/vies-dlq-...
#   kubectl -n vies logs -f job/vies-dlq-...
#
# IMAGE: any VIES image (the regional image is the smallest), for instance
# registry.example.org/vies/regional:0.1.0. See deploy/README.md, "Dead letters".
set -eu

if [ "$#" -lt 2 ]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
image=$1
shift
name="vies-dlq-$(date -u +%Y%m%d%H%M%S)"

# One YAML list item per argument, double-quoted and escaped.
args=""
for arg in "$@"; do
  escaped=$(printf '%s' "$arg" | sed 's/\\/\\\\/g; s/"/\\"/g')
  args="${args}
            - \"${escaped}\""
done

cat <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}
  labels:
    app.kubernetes.io/name: vies-ops
    app.kubernetes.io/part-of: vies
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 600
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app.kubernetes.io/name: vies-ops
        app.kubernetes.io/part-of: vies
        vies.io/kafka-client: "true"
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: dlq
          image: "${image}"
          command:
            - vies
            - dlq
          args:${args}
          env:
            - name: VIES_KAFKA_BOOTSTRAP
              value: vies-kafka-bootstrap:9093
            - name: VIES_KAFKA_SECURITY_PROTOCOL
              value: SASL_SSL
            - name: VIES_KAFKA_SASL_MECHANISM
              value: SCRAM-SHA-512
            - name: VIES_KAFKA_CA_FILE
              value: /etc/vies/kafka-ca/ca.crt
            - name: VIES_KAFKA_SASL_USERNAME
              value: vies-ops
            - name: VIES_KAFKA_SASL_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: vies-ops
                  key: password
          resources:
            requests:
              cpu: 50m
              memory: 128Mi
            limits:
              memory: 256Mi
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            privileged: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
            seccompProfile:
              type: RuntimeDefault
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: kafka-ca
              mountPath: /etc/vies/kafka-ca
              readOnly: true
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi
        - name: kafka-ca
          secret:
            secretName: vies-cluster-ca-cert
            items:
              - key: ca.crt
                path: ca.crt
YAML
