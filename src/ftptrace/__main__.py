"""`python -m ftptrace`: the same as the `ftptrace` command."""

from ftptrace.cli import main

main()
