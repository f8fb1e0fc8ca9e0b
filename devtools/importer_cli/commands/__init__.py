"""The subcommands of ``intercom-import``, one module per group; each module's ``register(sub)`` adds its
subparsers and returns their handlers (``importer_cli.main`` builds the parser and dispatches):

- ``stack.py``: ``run``, ``up``, ``down`` (the pipeline, locally or on a deployed stack);
- ``jobs.py``: ``upload``, ``status``, ``history``;
- ``tools.py``: ``sample``, ``validate``, ``sandbox``;
- ``partners.py``: ``partner``, ``presign``;
- ``doctor.py``: ``doctor`` (is Intercom, and the stack, ready for an import; the search lag measured);
- ``search_lag.py``: ``search-lag`` (the measured Intercom search lag the workers wait for);
- ``common.py``: what they share (the help formatter, one subcommand's parser, the environment help).
"""
