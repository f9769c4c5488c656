//! One module per `dk` command group.

pub mod approve;
pub mod audit;
pub mod build;
pub mod completion;
pub mod decline;
pub mod env;
pub mod history;
pub mod hold;
pub mod init;
pub mod logs;
pub mod notifications;
pub mod promote;
mod promotion;
pub mod promotions;
pub mod publish;
pub mod sign;
pub mod status;
pub mod store;
pub mod token;
pub mod ui;
pub mod verify;
pub mod version;
pub mod whoami;

/// Prints dkd's notices about its own state, one `warning:` line each, on stderr.
fn warn_notices(notices: &[String]) {
    for notice in notices {
        eprintln!("warning: dkd: {notice}");
    }
}
