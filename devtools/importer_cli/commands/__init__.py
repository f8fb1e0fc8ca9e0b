"""The subcommands of ``intercom-import``, one module per group; each module's ``register(sub)`` adds its
subparsers and returns their handlers (``importer_cli.main`` builds the parser and dispatches):

- ``stack.py``: ``run``, ``up``, ``down`` (the pipeline, locally or on a deployed stack);
- ``jobs.py``: ``upload``, ``status``, ``history``;
- ``tools.py``: ``sample``, ``validate``, ``sandbox``;
- ``partners.py``: ``partner``, ``presign``;
- ``common.py``: what they share (the help formatter, one subcommand's parser, the environment help).
"""
