//! Do-not-call lists (being written).
