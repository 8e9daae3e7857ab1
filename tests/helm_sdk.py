"""Renders and lints the kagi chart with Helm's own Go SDK (PyPI helm-python-sdk).

Reads one JSON request on stdin and writes one JSON answer on stdout:
  {"op": "render", "chart": DIR, "values_files": [PATH...], "values": {...},
   "release": NAME, "namespace": NS}
      -> {"ok": true, "objects": [...], "yaml": "...", "notes": "..."}
  {"op": "lint", "chart": DIR, "values_files": [...], "values": {...}}
      -> {"ok": true, "report": {...}}
Helm's errors (schema, template) come back as {"ok": false, "error": "..."}.
Values files are parsed by Helm (values_from_yaml) and merged as `helm -f A -f B --set-json`
would: maps merge key by key, anything else is replaced.
"""

import json
import sys

try:
    import helm_python
    import yaml
except ImportError as missing:
    print(json.dumps({"ok": False, "missing": str(missing)}))
    sys.exit(0)


def merge(base, override):
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def user_values(request):
    values = {}
    for path in request.get("values_files", []):
        with open(path, encoding="utf-8") as file:
            merge(values, helm_python.values_from_yaml(file.read()))
    return merge(values, request.get("values") or {})


def render(request):
    with helm_python.Chart.load(request["chart"]) as chart:
        manifests = chart.render(
            user_values(request),
            name=request["release"],
            namespace=request["namespace"],
            is_install=True,
        )
    notes = ""
    documents = []
    for path in sorted(manifests):
        if path.endswith("NOTES.txt"):
            notes = manifests[path]
        elif manifests[path].strip():
            documents.append(f"# Source: {path}\n{manifests[path]}")
    text = "\n---\n".join(documents)
    # The YAML 1.1 reading the API server's sigs.k8s.io/yaml also uses.
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    return {"ok": True, "objects": objects, "yaml": text, "notes": notes}


def lint(request):
    report = helm_python.lint(request["chart"], user_values(request), strict=True)
    return {"ok": True, "report": report}


def main():
    request = json.load(sys.stdin)
    try:
        answer = {"render": render, "lint": lint}[request["op"]](request)
    except helm_python.HelmError as error:
        answer = {"ok": False, "error": str(error)}
    json.dump(answer, sys.stdout)


main()
