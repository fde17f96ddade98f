"""Run the FinOps Foundation's focus-validator (1.0.0, a dev dependency) on a CSV file.

The validator reads its currency list from ``focus_validator/utils/currency_codes.csv``
relative to the working directory, so it runs in a child process started in the folder
that holds its package; the child prints each rule's status as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

_CHILD = """
import json, sys
from focus_validator.validator import Validator
v = Validator(data_filename=sys.argv[1], output_destination=None, output_type="console",
              rules_version="1.0")
v.load()
result = v.spec_rules.validate(v.focus_data)
print(json.dumps({name: [item.status.value, item.column_id,
                         None if result.failure_cases is None else
                         result.failure_cases[result.failure_cases["Check Name"] == name]
                         ["Values"].astype(str).head(3).tolist()]
                  for name, item in result.checklist.items()}))
"""


def validator_folder() -> Path:
    """The folder holding the ``focus_validator`` package (its working directory)."""
    spec = importlib.util.find_spec("focus_validator")
    assert spec is not None and spec.origin is not None, "focus-validator is not installed"
    return Path(spec.origin).parent.parent


def focus_validation(csv_path: Path) -> dict[str, tuple[str, str, list[str]]]:
    """Each FOCUS 1.0 rule of the validator: (status, column, a few failing values)."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(csv_path.resolve())],
                          cwd=validator_folder(), capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, list[object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: (str(v[0]), str(v[1]), list(v[2] or ())) for name, v in found.items()}  # type: ignore[arg-type]
