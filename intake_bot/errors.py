"""The exception hierarchy of intake-bot: one base class, one subclass per concern."""

from __future__ import annotations


class IntakeError(Exception):
    """Base class of every error intake-bot raises on purpose."""


class ConfigError(IntakeError):
    """The configuration is invalid; the message says which key and why."""


class UsageError(IntakeError):
    """A command was called with bad arguments or bad input (exit code 2)."""


class DeadlineError(UsageError):
    """A deadline computation was asked something the rule refuses (e.g. a suspension after expiry)."""


class TransitionRefused(IntakeError):
    """A case transition is not allowed from the current state; the message says why."""


class MailboxError(IntakeError):
    """The mailbox could not be reached or answered with an error."""


class TransportError(IntakeError):
    """Outgoing mail could not be handed to the transport."""


class ExtractionError(IntakeError):
    """A document could not be read (the caller turns it into a stated Problem)."""
