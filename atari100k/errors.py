"""The one error type that the CLI turns into a one-line message and exit code 2."""


class UsageError(Exception):
    """Bad input from the user: unknown game, bad override, conflicting run folder...

    The message must be one actionable line. The CLI prints it as
    `atari100k: error: <message>` and exits with code 2; nothing is written.
    """
