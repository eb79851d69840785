//! The DialNexa simulator; see DESIGN.md "Simulator".
