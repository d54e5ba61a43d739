//! all-MiniLM-L6-v2 on candle: loading from a model directory, batched inference, mean
//! pooling and normalisation.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::error::{Error, ErrorKind, Result};

/// The model name recorded in collections whose vectors this embedder produces.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// Vector length of all-MiniLM-L6-v2 (its `hidden_size`), known before the weights load so
/// a collection can record it while the model is absent.
pub const DIMENSION: usize = 384;
/// The model's directory name inside the model directory.
pub const MODEL_DIR_NAME: &str = "all-minilm-l6-v2";
/// Texts per forward pass unless [`MiniLm::with_batch_size`] says otherwise.
pub const DEFAULT_BATCH: usize = 32;
/// Word pieces per text; longer texts are truncated (sentence-transformers' `max_seq_length`
/// for this model).
pub const MAX_TOKENS: usize = 256;

/// `$AIOS_MODEL_DIR/all-minilm-l6-v2`, else `$HOME/.cache/aios/models/all-minilm-l6-v2`.
pub fn default_model_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("AIOS_MODEL_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").ok_or_else(|| {
                Error::new(
                    ErrorKind::MissingModel,
                    "neither AIOS_MODEL_DIR nor HOME is set: cannot find the embedding model",
                )
            })?;
            PathBuf::from(home).join(".cache/aios/models")
        }
    };
    Ok(base.join(MODEL_DIR_NAME))
}

/// all-MiniLM-L6-v2, loaded and ready to embed. Cheap to share behind an `Arc`; `embed` takes
/// `&self`.
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
    batch: usize,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLm")
            .field("dimension", &self.dimension)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| {
        Error::with_source(
            ErrorKind::MissingModel,
            format!(
                "cannot read {}; fetch the model with `cargo xtask model fetch {MODEL_DIR_NAME}`",
                path.display()
            ),
            e,
        )
    })
}

fn bad(dir: &Path, what: &str) -> impl FnOnce(candle_core::Error) -> Error {
    let message = format!(
        "{} holds no usable all-MiniLM-L6-v2 ({what}); fetch it again with `cargo xtask model fetch {MODEL_DIR_NAME}`",
        dir.display()
    );
    move |e| Error::with_source(ErrorKind::BadModel, message, e)
}

fn infer(what: &'static str) -> impl FnOnce(candle_core::Error) -> Error {
    move |e| Error::with_source(ErrorKind::Inference, what, e)
}

impl MiniLm {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let config_bytes = read(dir, "config.json")?;
        let config: Config = serde_json::from_slice(&config_bytes).map_err(|e| {
            Error::with_source(
                ErrorKind::BadModel,
                format!("{}/config.json is not a BERT config", dir.display()),
                e,
            )
        })?;
        let mut tokenizer = Tokenizer::from_bytes(read(dir, "tokenizer.json")?).map_err(|e| {
            Error::with_source(
                ErrorKind::BadModel,
                format!("{}/tokenizer.json cannot be loaded", dir.display()),
                e,
            )
        })?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::with_source(ErrorKind::BadModel, "setting truncation", e))?;
        let device = Device::Cpu;
        let weights = read(dir, "model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DTYPE, &device)
            .map_err(bad(dir, "model.safetensors"))?;
        let model = BertModel::load(vb, &config).map_err(bad(dir, "BERT weights"))?;
        let dimension = config.hidden_size;
        Ok(Self {
            model,
            tokenizer,
            device,
            dimension,
            batch: DEFAULT_BATCH,
        })
    }

    /// Loads from [`default_model_dir`].
    pub fn load_default() -> Result<Self> {
        Self::load(&default_model_dir()?)
    }

    /// Sets the number of texts per forward pass (at least 1).
    pub fn with_batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Length of every vector.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// One unit-length vector per text, in the caller's order.
    pub fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        // Similar lengths in one batch keep padding, which costs full attention work, small.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.embed_batch(&batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::with_source(ErrorKind::Inference, "tokenizing", e))?;
        let rows = encodings.len();
        let cols = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(rows * cols);
        let mut types = Vec::with_capacity(rows * cols);
        let mut mask = Vec::with_capacity(rows * cols);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (rows, cols), &self.device).map_err(infer("ids"))?;
        let types = Tensor::from_vec(types, (rows, cols), &self.device).map_err(infer("types"))?;
        let mask = Tensor::from_vec(mask, (rows, cols), &self.device).map_err(infer("mask"))?;
        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(infer("running BERT"))?;
        mean_pool_normalise(&hidden, &mask)
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(infer("pooling"))
    }
}

/// Mean of the token vectors the attention mask keeps, scaled to unit length: sentence
/// embeddings as sentence-transformers' `Pooling(mean)` + `Normalize` compute them.
fn mean_pool_normalise(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // A row always has [CLS] and [SEP], so the count is at least 2; the clamp is belt and braces.
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norm)
}

impl aios_search::Embedder for MiniLm {
    fn model(&self) -> &str {
        MODEL_NAME
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn embed(&self, texts: &[String]) -> aios_search::Result<Vec<Vec<f32>>> {
        self.embed_texts(texts)
            .map_err(|e| aios_search::Error::embedding("all-MiniLM-L6-v2", e))
    }
}
