"""The dialogue layer: the engine that turns a message and a state into a turn, and the action policy."""
