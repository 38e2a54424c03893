"""Checks the packaging against real tools: the Argo CD health scripts run in
Lua (lupa) over statuses the controller produced, and the chart's values.yaml
against its values.schema.json. Usage: config_check.py CASES.json REPO_ROOT"""
import json
import sys
from pathlib import Path

import jsonschema
import lupa
import yaml

cases = json.loads(Path(sys.argv[1]).read_text())
root = Path(sys.argv[2])

lua = lupa.LuaRuntime(unpack_returned_tuples=True)
for kind, script in [
    ("KmsKey", "kmskey-health.lua"),
    ("KmsAlias", "kmsalias-health.lua"),
    ("KmsGrant", "kmsgrant-health.lua"),
]:
    source = (root / "config" / "argocd" / script).read_text()
    health = lua.eval("function(obj) " + source + " end")
    for case in (c for c in cases if c["obj"]["kind"] == kind):
        result = health(lua.table_from(case["obj"], recursive=True))
        status = result["status"]
        assert status == case["expect"], f"{kind} {case['name']}: got {status} ({result['message']}), want {case['expect']}"
        print(f"ok  {kind} {case['name']}: {status}")

chart = root / "charts" / "kube-kms"
schema = json.loads((chart / "values.schema.json").read_text())
values = yaml.safe_load((chart / "values.yaml").read_text())
jsonschema.validate(values, schema)
bad = dict(values, arn=dict(values["arn"], account="12"))
try:
    jsonschema.validate(bad, schema)
    raise SystemExit("values.schema.json accepted a 2-digit account")
except jsonschema.ValidationError:
    pass
print("ok  values.yaml matches values.schema.json")
