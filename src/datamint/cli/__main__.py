"""``python -m datamint.cli`` runs the ``datamint`` command."""

from datamint.cli.main import main

main()
