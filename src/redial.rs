//! Redials (being written).
