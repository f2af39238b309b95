"""``python -m tokenwire`` runs the command line (see :mod:`tokenwire.cli`)."""

from tokenwire.cli import main

raise SystemExit(main())
