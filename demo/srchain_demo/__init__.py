"""The local end-to-end demo: a network-namespace testbed running the reference chain (docs/demo.md)."""
