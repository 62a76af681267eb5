"""ftptrace: shows exactly where FTP breaks on its way through NAT routers and firewalls."""

__version__ = "0.1.0"
