"""The Faust agents: thin loops that read a topic, call the core, and write tables and topics."""


class Progress:
    """How many records an agent has finished (outputs sent, tables written); the agent tests wait on it."""

    def __init__(self) -> None:
        self.records = 0
