//! Tool definitions and their implementations: one typed definition per tool, from which schemas, policy input and help derive.
