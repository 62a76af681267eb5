"""`python -m ftptrace`: the same as the `ftptrace` command."""

from ftptrace.entry import main

main()
