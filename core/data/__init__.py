"""Data: a file's rows as `Record`s, splits, the answer format, chat-template encoding, statistics."""
