"""``sample people|companies``: a template CSV with every standard attribute (the "Download sample file").

The columns are the importer's own lists (``intercom_importer.mapping.PEOPLE_ATTRIBUTES`` /
``COMPANY_ATTRIBUTES``) plus one example custom attribute column; the example rows pass validation and
import as they are (tests/integration/test_cli_stack.py proves both).
"""

from __future__ import annotations

import csv
import io
from typing import Any

# One example value per attribute and row; an attribute missing from a row is left empty, which the
# importer reads as "leave unchanged". ``id`` (Intercom's own contact id) and ``owner_id`` (a teammate
# of your workspace) only make sense with values from your workspace, so the examples leave them empty.
PEOPLE_CUSTOM = "customer_tier"
PEOPLE_ROWS: list[dict[str, str]] = [
    {
        "external_id": "u-1001",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0001",
        "avatar": "https://example.com/avatars/ada.png",
        "role": "user",
        "signed_up_at": "2026-01-15",
        "last_seen_at": "2026-11-20T09:30:00Z",
        "unsubscribed_from_emails": "false",
        "company_id": "acme",
        "company_name": "Acme Ltd",
        "company_plan": "Enterprise",
        "company_size": "250",
        "company_website": "https://acme.example.com",
        "company_industry": "Manufacturing",
        "company_monthly_spend": "1999",
        PEOPLE_CUSTOM: "gold",
    },
    {
        "external_id": "u-1002",
        "email": "grace@example.com",
        "name": "Grace Hopper",
        "phone": "+1 202 555 0102",
        "role": "user",
        "signed_up_at": "2026-02-15",
        "unsubscribed_from_emails": "true",
        "company_id": "acme",
        "company_name": "Acme Ltd",
        PEOPLE_CUSTOM: "silver",
    },
    {
        "email": "alan@example.com",
        "name": "Alan Turing",
        "role": "lead",
        PEOPLE_CUSTOM: "bronze",
    },
]

COMPANIES_CUSTOM = "account_manager"
COMPANY_ROWS: list[dict[str, str]] = [
    {
        "company_id": "acme",
        "name": "Acme Ltd",
        "plan": "Enterprise",
        "size": "250",
        "website": "https://acme.example.com",
        "industry": "Manufacturing",
        "monthly_spend": "1999.90",
        "remote_created_at": "2019-05-01",
        COMPANIES_CUSTOM: "Mary Jackson",
    },
    {
        "company_id": "initech",
        "name": "Initech",
        "plan": "Starter",
        "size": "12",
        "website": "https://initech.example.com",
        "industry": "Software",
        "monthly_spend": "49",
        "remote_created_at": "2024-02-29",
        COMPANIES_CUSTOM: "Dorothy Vaughan",
    },
]


def sample(import_type: str) -> dict[str, Any]:
    """The sample's header, rows and which column is the custom example."""
    from intercom_importer.mapping import COMPANY_ATTRIBUTES, PEOPLE_ATTRIBUTES

    if import_type == "people":
        standard, custom, rows = list(PEOPLE_ATTRIBUTES), PEOPLE_CUSTOM, PEOPLE_ROWS
    else:
        standard, custom, rows = list(COMPANY_ATTRIBUTES), COMPANIES_CUSTOM, COMPANY_ROWS
    header = [*standard, custom]
    return {
        "import_type": import_type,
        "header": header,
        "standard_columns": standard,
        "custom_columns": [custom],
        "rows": [[row.get(column, "") for column in header] for row in rows],
    }


def sample_csv(import_type: str) -> str:
    data = sample(import_type)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(data["header"])
    writer.writerows(data["rows"])
    return out.getvalue()
