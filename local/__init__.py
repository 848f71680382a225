"""Docker-free local runner, provider doubles and tooling (not shipped to Lambda)."""

import sys
from pathlib import Path

# The layer's code is importable as in Lambda (/opt/python), whatever the working directory.
_SHARED = str(Path(__file__).resolve().parent.parent / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
