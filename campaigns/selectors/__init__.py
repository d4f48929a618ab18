"""Reads of the campaigns app shared by the console, the services and the reports, one module per concept."""
