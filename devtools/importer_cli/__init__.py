"""``intercom-import``: the importer's command line (a development and operator tool, never shipped to Lambda).

Modules: ``main`` (parser, dispatch, ``run``), ``targets`` (which stack a command talks to),
``local_stack`` (``up``/``down`` and the long-lived local stack), ``jobs_commands`` (``upload``,
``status``, ``history``), ``sample`` (template CSV files), ``import_options`` (per-import flags as S3
metadata), ``display`` (progress bar, tables), ``errors`` (exit codes, one-line errors).
"""
