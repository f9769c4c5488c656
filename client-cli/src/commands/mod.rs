//! One module per `dk` command group.

pub mod approve;
pub mod build;
pub mod env;
pub mod history;
pub mod logs;
pub mod promote;
mod promotion;
pub mod publish;
pub mod status;
