//! The `dk` binary.

fn main() -> std::process::ExitCode {
    datakit::install_crypto_provider();
    dk::run()
}
