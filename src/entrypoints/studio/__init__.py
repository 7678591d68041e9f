"""The studio's files: one HTML page, ES modules and CSS, served as they are (no build step).

`entrypoints/http/studio.py` serves them at `/` and `/studio/...`; nothing here is Python
but this docstring.
"""
