"""Effects: each module performs one kind of change against a ``Cluster``."""
