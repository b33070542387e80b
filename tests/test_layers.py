"""Floor 0 stands alone: the library imports no web framework and nothing built on top of it."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

IMPORT_EVERY_CORE_MODULE = """
import importlib, json, pkgutil, sys
import multimodal
names = [info.name for info in pkgutil.walk_packages(multimodal.__path__, "multimodal.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def test_the_library_imports_no_web_framework_and_no_upper_floor():
    # A fresh interpreter: other tests' imports (app.py, web/) must not hide a leak.
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_CORE_MODULE], capture_output=True, text=True, cwd=ROOT, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"multimodal.service", "multimodal.signals", "multimodal.store"} <= set(report["modules"])
    loaded = set(report["loaded"])
    assert not {"fastapi", "gradio", "uvicorn"} & loaded
    assert not {name for name in loaded if name.split(".")[0] in ("web", "ingest", "evaluation", "app")}
