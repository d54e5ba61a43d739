//! Local, offline sentence embeddings for aiOS memory.
//!
//! [`MiniLm`] runs all-MiniLM-L6-v2 (Apache-2.0, 384 dimensions) in-process on the CPU with
//! candle's BERT and the `tokenizers` crate, then mean-pools over the attention mask and
//! L2-normalises, as sentence-transformers does for this model. It implements
//! [`aios_search::Embedder`], so a collection records its model name and dimension and refuses
//! vectors of any other model.
//!
//! Design decisions:
//! - Nothing is downloaded at run time: the weights are read from a model directory that
//!   `cargo xtask model fetch all-minilm-l6-v2` fills (see [`default_model_dir`]).
//! - The tokenizer uses `fancy-regex`, not oniguruma, so the build has no C step.
//! - Texts are embedded in batches ordered by length, so padding (wasted work) stays small;
//!   results come back in the caller's order.

mod error;
mod minilm;

pub use error::{Error, ErrorKind, Result};
pub use minilm::{
    DEFAULT_BATCH, DIMENSION, MAX_TOKENS, MODEL_DIR_NAME, MODEL_NAME, MiniLm, default_model_dir,
};
