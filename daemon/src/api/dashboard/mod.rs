//! The web dashboard (`daemon/web/`): its files served on the network listener next to
//! gRPC-Web, and the loopback listener with one-time login links that `dk ui` opens.

mod assets;
mod logins;
mod loopback;
mod pages;
mod session;

pub use loopback::Dashboard;
pub use pages::PagesLayer;
