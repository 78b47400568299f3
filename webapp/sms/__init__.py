"""The SMS domain core: plain functions and small classes that take a database session.

Nothing in here imports a blueprint or `flask.request`; all of it is callable from tests and CLI.
"""
