//! results: owned by its issue; see DESIGN.md's layout.
