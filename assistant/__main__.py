"""``python -m assistant …`` runs the ``xiaoshen`` command line.

With ``PYTHONPATH`` set to a checkout it runs that checkout's code whatever the
virtualenv's editable install points at (a second worktree shares the venv).
"""

from assistant.cli import main

main()
