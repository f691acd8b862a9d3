"""Corrections people send (POST /feedback), kept in a SQL database: SQLite by default, PostgreSQL
for several hosts. No HTTP here: the api package answers, this package stores and reads."""
