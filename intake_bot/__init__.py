"""intake-bot: the intake service behind DINUM's grandsprojets.si mailbox."""

__version__ = "0.1.0"
