//! Registries: where published packages are, and which digest a version resolves to.
//! Implementations of the domain's `Registry` port: the embedded OCI image layout in
//! `DK_HOME/registry/` and any OCI registry through `oci-client`.

mod layout;
mod oci;

use std::sync::Arc;

pub use layout::LayoutRegistry;
pub use oci::OciRegistry;

use crate::{
    config::{RegistryConfig, RegistryKind},
    home::DkHome,
    promotion::ports::{Registry, RegistryError},
};

/// The registry `dkd.yaml` selects: the embedded layout by default.
pub fn from_config(
    config: &RegistryConfig,
    home: &DkHome,
) -> Result<Arc<dyn Registry>, RegistryError> {
    match config.kind {
        RegistryKind::Embedded => Ok(Arc::new(LayoutRegistry::in_home(home))),
        RegistryKind::Oci => {
            let url = config.url.as_deref().ok_or_else(|| {
                RegistryError::Unavailable(
                    "registry.url is required when registry.type is oci: set it in dkd.yaml"
                        .to_owned(),
                )
            })?;
            Ok(Arc::new(OciRegistry::connect(url, config.plain_http)?))
        }
    }
}
