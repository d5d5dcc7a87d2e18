"""``python -m arraysim`` = the ``arraysim`` command."""
import sys

from .cli import main

sys.exit(main())
