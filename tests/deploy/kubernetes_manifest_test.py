"""Checks deploy/kubernetes: every document parses as YAML, and the metrics path holds
together: vmmd serves on loopback, the proxy's upstream is that port, the Service's target port
is the proxy's named port, and the proxy's service account is bound to what it needs."""
import re
import sys

import yaml

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


daemonset_path, monitor_path = sys.argv[1], sys.argv[2]
documents = {}
for path in (daemonset_path, monitor_path):
    with open(path) as stream:
        for document in yaml.safe_load_all(stream):
            documents[(document["kind"], document["metadata"]["name"])] = document

daemonset = documents[("DaemonSet", "vmmd")]
pod = daemonset["spec"]["template"]["spec"]
containers = {container["name"]: container for container in pod["containers"]}
vmmd = containers["vmmd"]
metrics_flags = [arg for arg in vmmd["command"] if arg.startswith("--metrics_listen=")]
check(len(metrics_flags) == 1, "vmmd has one --metrics_listen")
match = re.fullmatch(r"--metrics_listen=tcp:127\.0\.0\.1:(\d+)", metrics_flags[0] if metrics_flags else "")
check(match is not None, "vmmd's metrics are on loopback")
port = match.group(1) if match else "?"

proxy = containers.get("kube-rbac-proxy", {})
check(f"--upstream=http://127.0.0.1:{port}/" in proxy.get("args", []), "the proxy's upstream is vmmd's metrics port")
check("--allow-paths=/metrics" in proxy.get("args", []), "the proxy serves /metrics only")
proxy_ports = {p["name"]: p for p in proxy.get("ports", [])}
check("https-metrics" in proxy_ports, "the proxy has a port named https-metrics")
check(proxy.get("securityContext", {}).get("runAsNonRoot") is True, "the proxy runs as non-root")
mounts = [m["mountPath"] for m in proxy.get("volumeMounts", [])]
check("/var/run/secrets/kubernetes.io/serviceaccount" in mounts, "the proxy gets a token")
check(not any("serviceaccount" in m["mountPath"] for m in vmmd.get("volumeMounts", [])), "vmmd gets no token")
check(pod.get("automountServiceAccountToken") is False, "no token is mounted by default")
check(pod.get("serviceAccountName") == "vmmd", "the pod runs as service account vmmd")

service = documents[("Service", "vmmd-metrics")]
service_port = service["spec"]["ports"][0]
check(service_port["targetPort"] == "https-metrics", "the Service targets the proxy's port")
check(service_port["port"] == proxy_ports.get("https-metrics", {}).get("containerPort"), "the Service's port is the proxy's")
check(all(daemonset["spec"]["template"]["metadata"]["labels"].get(k) == v
          for k, v in service["spec"]["selector"].items()), "the Service selects the DaemonSet's pods")

binding = documents[("ClusterRoleBinding", "vmmd-metrics-proxy")]
check(binding["roleRef"]["name"] == "vmmd-metrics-proxy", "the binding grants the proxy's role")
check({"kind": "ServiceAccount", "name": "vmmd", "namespace": "vmmd"} in binding["subjects"], "the binding is for vmmd's account")
role = documents[("ClusterRole", "vmmd-metrics-proxy")]
resources = {r for rule in role["rules"] for r in rule["resources"]}
check(resources == {"tokenreviews", "subjectaccessreviews"}, "the role allows token and access reviews only")

monitor = documents[("ServiceMonitor", "vmmd")]
check(all(service["metadata"]["labels"].get(k) == v
          for k, v in monitor["spec"]["selector"]["matchLabels"].items()), "the ServiceMonitor selects the Service")
check(monitor["spec"]["endpoints"][0]["port"] == "https-metrics", "the ServiceMonitor scrapes the proxy's port")

for failure in failures:
    print("FAIL:", failure, file=sys.stderr)
if failures:
    sys.exit(1)
print("PASS: deploy/kubernetes parses and its metrics path holds together")
