#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests for what schema validation cannot see.

kubernetes-validate proves each document is well-formed for the Kubernetes API; this proves
the documents fit together and follow the workspace's rules:

- every ConfigMap, Secret, Service, Deployment and PersistentVolumeClaim template that one
  document names exists among the rendered documents (with the key that is read), unless it
  is listed as provided by the operator (--external);
- every Deployment's containers have readiness on /readyz, liveness on /healthz, resource
  requests and limits, run as non-root without privilege escalation on a read-only root file
  system;
- every Deployment has a Service, a PodDisruptionBudget selecting its pods, and the ones
  listed with --autoscaled have a HorizontalPodAutoscaler targeting them;
- Ingress backends are Services with the named port, and no Ingress has a Prefix `/` (with
  ingress-nginx it would catch every path no other rule names);
- every ConfigMap stays under 256 KiB: client-side `kubectl apply` keeps a copy of the object
  in an annotation, and annotations are limited to 256 KiB (the API's own limit is 1 MiB);
- every container that verifies tokens (sets AUTH_JWKS_URL) also subscribes to the
  revocation feed (sets AUTH_EVENTS_URL, and not AUTH_REVOCATION_FEED=off): a verifier that
  missed it would accept ended sessions until their tokens expire;
- no container sets DEV_MODE unless the rendering is a development one (--allow-dev-mode):
  DEV_MODE lets the services start on public development secrets.

Usage: check.py RENDERED.yaml [--external Secret/auth-secrets ...] [--autoscaled NAME ...] [--allow-dev-mode]
Exit status 1 with one line per problem.
"""

import argparse
import sys

import yaml


def pod_spec(doc):
    return doc.get("spec", {}).get("template", {}).get("spec", {})


# What kubectl apply's last-applied-configuration annotation can hold (all annotations of an
# object together).
APPLY_ANNOTATION_LIMIT = 256 * 1024


def matches(selector, labels):
    wanted = selector.get("matchLabels", {})
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rendered")
    parser.add_argument("--external", action="append", default=[], help="Kind/name provided outside the render")
    parser.add_argument("--autoscaled", action="append", default=[], help="Deployment that must have an HPA")
    parser.add_argument("--allow-dev-mode", action="store_true", help="a development rendering: DEV_MODE may be set")
    args = parser.parse_args()

    with open(args.rendered, encoding="utf-8") as handle:
        docs = [d for d in yaml.safe_load_all(handle) if d]
    problems = []
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    external = set(args.external)

    def data_keys(kind, name):
        doc = by_kind.get(kind, {}).get(name)
        if doc is None:
            return None
        return set(doc.get("data", {})) | set(doc.get("stringData", {}))

    def need(kind, name, key, where):
        if f"{kind}/{name}" in external:
            return
        keys = data_keys(kind, name)
        if keys is None:
            problems.append(f"{where}: {kind} {name} is not rendered (and not declared --external)")
        elif key is not None and key not in keys:
            problems.append(f"{where}: {kind} {name} has no key {key}")

    workloads = list(by_kind.get("Deployment", {}).values()) + list(by_kind.get("StatefulSet", {}).values())
    for doc in workloads:
        name = f"{doc['kind']} {doc['metadata']['name']}"
        spec = pod_spec(doc)
        labels = doc["spec"]["template"]["metadata"].get("labels", {})
        if not matches(doc["spec"]["selector"], labels):
            problems.append(f"{name}: selector does not match the pod template's labels")
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                for item in volume["secret"].get("items", [None]):
                    need("Secret", volume["secret"]["secretName"], item and item["key"], name)
            if "configMap" in volume:
                for item in volume["configMap"].get("items", [None]):
                    need("ConfigMap", volume["configMap"]["name"], item and item["key"], name)
            for source in volume.get("projected", {}).get("sources", []):
                for kind, field in (("Secret", "secret"), ("ConfigMap", "configMap")):
                    if field in source:
                        for item in source[field].get("items", [None]):
                            need(kind, source[field]["name"], item and item["key"], name)
        for container in spec.get("containers", []):
            where = f"{name} container {container['name']}"
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    need("Secret", ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"], where)
                if "configMapKeyRef" in ref:
                    need("ConfigMap", ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"], where)
            env_values = {e["name"]: e.get("value") for e in container.get("env", [])}
            if "DEV_MODE" in env_values and not args.allow_dev_mode:
                problems.append(f"{where}: sets DEV_MODE, which lets it start on public development secrets")
            if "AUTH_JWKS_URL" in env_values:
                if not env_values.get("AUTH_EVENTS_URL"):
                    problems.append(f"{where}: verifies tokens (AUTH_JWKS_URL) but sets no AUTH_EVENTS_URL")
                if env_values.get("AUTH_REVOCATION_FEED", "on") == "off":
                    problems.append(f"{where}: AUTH_REVOCATION_FEED=off, so revoked sessions stay usable")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part, {})):
                    problems.append(f"{where}: resources.{part} must set cpu and memory")
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False or security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: needs allowPrivilegeEscalation: false and readOnlyRootFilesystem: true")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: must drop ALL capabilities")
            if not spec.get("securityContext", {}).get("runAsNonRoot"):
                problems.append(f"{where}: the pod must set runAsNonRoot")
            if doc["kind"] == "Deployment":
                ready = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
                live = container.get("livenessProbe", {}).get("httpGet", {}).get("path")
                if ready != "/readyz" or live != "/healthz":
                    problems.append(f"{where}: readiness must GET /readyz and liveness /healthz (got {ready}, {live})")

    for doc in by_kind.get("Deployment", {}).values():
        name = doc["metadata"]["name"]
        labels = doc["spec"]["template"]["metadata"].get("labels", {})
        if not any(matches({"matchLabels": s["spec"].get("selector", {})}, labels) for s in by_kind.get("Service", {}).values()):
            problems.append(f"Deployment {name}: no Service selects its pods")
        if not any(matches(p["spec"]["selector"], labels) for p in by_kind.get("PodDisruptionBudget", {}).values()):
            problems.append(f"Deployment {name}: no PodDisruptionBudget selects its pods")

    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        target = hpa["spec"]["scaleTargetRef"]
        if target["name"] not in by_kind.get(target["kind"], {}):
            problems.append(f"HorizontalPodAutoscaler {hpa['metadata']['name']}: targets missing {target['kind']} {target['name']}")
    targeted = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", {}).values()}
    for name in args.autoscaled:
        if name not in targeted:
            problems.append(f"Deployment {name}: no HorizontalPodAutoscaler")

    for ingress in by_kind.get("Ingress", {}).values():
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                service = by_kind.get("Service", {}).get(backend["name"])
                where = f"Ingress {ingress['metadata']['name']} path {path['path']}"
                if path["path"] == "/" and path.get("pathType") != "Exact":
                    problems.append(f"{where}: pathType {path.get('pathType')} catches every unrouted path; use Exact")
                if service is None:
                    problems.append(f"{where}: no Service {backend['name']}")
                    continue
                port = backend["port"]
                names = {p.get("name") for p in service["spec"]["ports"]}
                numbers = {p["port"] for p in service["spec"]["ports"]}
                if port.get("name", port.get("number")) not in names | numbers:
                    problems.append(f"{where}: Service {backend['name']} has no port {port}")

    for config_map in by_kind.get("ConfigMap", {}).values():
        size = sum(len(k) + len(v.encode("utf-8")) for k, v in (config_map.get("data") or {}).items())
        size += sum(len(k) + len(v) for k, v in (config_map.get("binaryData") or {}).items())
        if size > APPLY_ANNOTATION_LIMIT:
            problems.append(f"ConfigMap {config_map['metadata']['name']}: {size} bytes, more than kubectl apply's "
                            f"{APPLY_ANNOTATION_LIMIT}-byte annotation holds")

    for problem in problems:
        print(f"problem: {problem}")
    kinds = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"{args.rendered}: {len(docs)} documents ({kinds}), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
