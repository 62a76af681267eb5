"""Real NAT labs in network namespaces: every FTP failure mode on demand (issue 3).

`scenarios` declares each failure mode as data; `topology` is the guide's world as data and
`netns` builds it; `netfilter` and `servers` configure routers and the FTP server; `clients`
and `ftpclient` drive real clients; `capture` records every vantage point; `runner.Lab` ties
it together and guarantees teardown; `state` remembers labs across invocations; `shipped`
runs many scenarios and writes the shipped capture sets; `report` is the CLI's plain text.
Import the API from `ftptrace.lab.runner` (`Lab`, `run_scenario`, `LabRun`).
"""
