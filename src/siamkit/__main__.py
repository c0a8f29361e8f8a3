"""`python -m siamkit ...` runs the command line."""

from siamkit.cli import main

main()
