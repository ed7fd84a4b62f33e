//! hz: parallel JavaScript.
