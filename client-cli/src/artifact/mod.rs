//! Package artifacts on the client side: packing a package directory reproducibly, the
//! source facts that go into annotations, the build cache in `DK_HOME/builds/`, and
//! publishing to the embedded registry or a remote one, and signing published versions.
//! `dk build`, `dk publish` and `dk sign` never need `dkd`.

pub mod build;
pub mod cache;
pub mod layer;
pub mod pack;
pub mod publish;
pub mod sign;
pub mod source;
pub mod timestamp;
pub mod tree;
pub mod walk;
