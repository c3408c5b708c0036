"""``python -m attention_analysis.main --model vocal|violin``: same as ``attention_analysis``."""
import sys

from .attention_analysis import main

if __name__ == "__main__":
    sys.exit(main())
