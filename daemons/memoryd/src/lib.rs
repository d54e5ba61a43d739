//! memoryd: serves the episodic store over the memory service.
