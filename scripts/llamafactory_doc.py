"""Rewrite the generated table of docs/llamafactory.md from core.config.llamafactory's table
(the text above the table stays as written):  python scripts/llamafactory_doc.py"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config.llamafactory import write_doc  # noqa: E402

if __name__ == "__main__":
    print(f"wrote {write_doc(ROOT)}")
