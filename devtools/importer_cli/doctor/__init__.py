"""``intercom-import doctor``: the report (``model.py``), the Intercom checks (``intercom_checks.py`` and the modules it
uses), the stack's checks (``stack_checks.py``) and the measured values stored for the pipeline (``stored.py``);
``docs/architecture.md`` has a line for each module. The command itself is ``importer_cli/commands/doctor.py``."""
