"""Domain package of the Intercom CSV importer, shipped to Lambda as the shared layer.

Modules by concern: ``settings`` (the one settings object), ``errors`` (named errors), ``aws``
(cached client factories), ``csv_reader`` (streaming decode and parse), ``mapping`` and ``schema``
(columns to Intercom attributes, row validation), ``validation`` (file to chunks), ``jobs`` (the job
store; ``job_record``: the record it holds), ``intercom`` (REST client), ``upsert`` (rows to Intercom calls), ``report`` and ``summary``
(aggregation, error file, email).
"""

__version__ = "0.1.0"
