"""Makes the shared test kit importable by name in every test module: ``from testkit import ...``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
