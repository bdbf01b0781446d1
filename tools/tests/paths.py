"""Paths the tests share (imported as tools.tests.paths; pytest.ini puts the repository root on the path)."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
OFFICIAL = os.path.join(FIXTURES, "official-par")
