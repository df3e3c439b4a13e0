#!/usr/bin/env python3
"""Every YAML file in runbooks/ and examples/ validates against the JSON
Schema that `runbook schema` prints (draft 2020-12), and the schema rejects
what the engine rejects: unknown keys, a step with two kinds, a bad duration.

Usage: schema_conformance.py RUNBOOK_BINARY SOURCE_DIR"""
import glob
import json
import os
import subprocess
import sys

import jsonschema
import yaml


def main():
    binary, source = sys.argv[1], sys.argv[2]
    schema = json.loads(subprocess.run([binary, "schema"], check=True, capture_output=True, text=True).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    files = sorted(glob.glob(os.path.join(source, "runbooks", "**", "*.y*ml"), recursive=True) +
                   glob.glob(os.path.join(source, "examples", "**", "*.y*ml"), recursive=True))
    files = [f for f in files if f.endswith((".yaml", ".yml"))]
    failures = 0
    if not files:
        print("no runbook files found under", source)
        failures += 1
    for path in files:
        with open(path) as f:
            doc = yaml.safe_load(f)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        for e in errors:
            print(f"{path}: {'/'.join(map(str, e.path))}: {e.message}")
        failures += bool(errors)
        print(f"{'FAIL' if errors else 'ok'}: {os.path.relpath(path, source)}")

    # The schema must be able to say no, or the checks above prove nothing.
    bad = {
        "unknown key": {"name": "x", "steps": [{"id": "a", "run": "x", "timout": "5m"}]},
        "two kinds": {"name": "x", "steps": [{"id": "a", "run": "x", "wait": "5m"}]},
        "no kind": {"name": "x", "steps": [{"id": "a"}]},
        "bad duration": {"name": "x", "steps": [{"id": "a", "run": "x", "timeout": "5 min"}]},
        "no steps": {"name": "x"},
        "bad id": {"name": "x", "steps": [{"id": "Bad", "run": "x"}]},
    }
    for what, doc in bad.items():
        ok = validator.is_valid(doc)
        print(f"{'FAIL' if ok else 'ok'}: schema rejects {what}")
        failures += ok

    print(f"{len(files) + len(bad) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
