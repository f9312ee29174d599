"""The one exception type users see.

Every problem the user can fix (a wrong path, an unknown task, a malformed data file) is raised as a
``SelfDiscError`` whose message is one sentence naming the problem and the fix. The pytest plugin turns it
into a clean failure without a traceback.
"""


class SelfDiscError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""


class SelfDiscWarning(UserWarning):
    """Something the run did differently from what was asked, and went on (e.g. fewer questions than
    ``--limit``): pytest lists it in its warnings summary."""
