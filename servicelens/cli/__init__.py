"""The ``servicelens`` command line: one module per command group, and the console output.

The top of the import graph: may import everything, but imports heavy modules only inside
the command that needs them, so ``--help`` and the quick commands start fast.
"""
