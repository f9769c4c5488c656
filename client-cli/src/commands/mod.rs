//! One module per `dk` command group.

pub mod env;
