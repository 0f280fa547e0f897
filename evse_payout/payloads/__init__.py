"""What OCPI peers and files deliver, as data: the pydantic payload models, OCPI errors, the JSON
number hook (`ocpi.py`) and reading OCPI JSON / JSON Lines files (`files.py`).

Neutral ground between the OCPI adapter (`evse_payout/ocpi/`, HTTP) and the services: it imports
neither, so both may import it (an import-linter contract in pyproject.toml).
"""
