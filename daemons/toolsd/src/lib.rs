//! toolsd: the tool executor daemon, the only process that changes the system.
