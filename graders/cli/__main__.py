"""`python -m graders.cli` runs the `grade` command."""

from graders.cli import main

main()
