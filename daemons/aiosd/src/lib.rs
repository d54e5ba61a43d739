//! aiosd: the orchestrator, holding sessions and running the turn loop.
