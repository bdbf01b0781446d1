import os
import sys

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FIXTURES = os.path.join(TOOLS, "..", "Tests", "Fixtures")
OFFICIAL = os.path.join(FIXTURES, "official-par")
