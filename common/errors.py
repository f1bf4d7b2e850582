"""The one error type users see: a single clear line naming the problem and where to fix it."""


class RadassistError(Exception):
    """A configuration or input problem that the user can fix; printed as one line, never a traceback."""
