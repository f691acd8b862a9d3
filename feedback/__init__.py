"""Corrections people send (POST /feedback), kept in a SQL database: SQLite by default, PostgreSQL
for several hosts. The table, its Alembic migrations and the store that reads and writes it.

Its own package, beside service/ and training/: the service writes corrections, the fine-tune
recipe (training/finetune.py) reads them, and training must not depend on the service. No HTTP and
no model here.
"""
