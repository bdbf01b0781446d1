import os
import sys

# tools/ holds flat modules; tools/fvd/ the FVD evaluator's modules.
TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (TOOLS, os.path.join(TOOLS, "fvd")):
    if path not in sys.path:
        sys.path.insert(0, path)
