"""The embedded default: the seeded demo dataset and the tiny Qwen2-architecture model built offline."""
