"""The request whose receipt and notification the mail tests read."""

from __future__ import annotations

from tests.helpers.shipped import stand_in

# A data extract while schema/ has it; else the same request to a service it has (tests/helpers/shipped.py).
DATA = stand_in(
    {
        "cc": ["leder@example.no", "kollega@example.no"],
        "service": "data-extract",
        "extract_data": "Alle innleveringer",
        "period_from": "2026-01-01",
        "period_to": "2026-06-30",
        "account": "Kunde AS",
        "subject": "Rapport for våren",
        "description": "Vi trenger en CSV-fil.\nHelst før fredag.",
    }
)
