"""The models and scenarios that ship with sdvag (links to the repository's models/ and scenarios/,
which stay the source of truth; a wheel carries copies)."""
