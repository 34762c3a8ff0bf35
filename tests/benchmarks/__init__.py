"""The `r1chat bench` commands: measurements of the engine, the app, the store and fitting.

Only the `bench` command imports this package; nothing in the running app does.
"""
