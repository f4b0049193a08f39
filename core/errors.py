"""Errors the user can fix. The CLI prints them as one line (no traceback) and exits 2."""


class UserError(Exception):
    """Bad input: a file, record, field or key that the message names, and what to do."""
