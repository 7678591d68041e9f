"""Shared by every test folder: this file puts tests/ on sys.path, so support modules
kept here (live_server.py) import the same way from any folder."""
