//! The episodic store: SQLite (WAL) sessions, messages and tool calls.
