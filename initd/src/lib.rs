//! initd: PID 1 on the aiOS image and the user-level supervisor elsewhere.
