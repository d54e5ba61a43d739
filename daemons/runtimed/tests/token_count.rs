//! Token counts in the model's own tokens, end to end (issue 11 §1): the
//! real `runtimed` binary with the tiny model, the gateway served on a Unix
//! socket in front of it, and a `ModelClient` asking as aiosd does. The
//! local provider counts with the model's tokenizer; a cloud provider says
//! it cannot, so the caller keeps its estimate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use aios_config::{LocalConfig, OpenAiConfig};
use aios_gatewayd::{Gateway, LocalProvider, OpenAiProvider, Provider};
use aios_proto::{ModelClient, Services};
use aios_runtime::{LoadOptions, Runtime};

mod support;

use support::{DEADLINE, start_runtimed, tiny_model};

/// A gateway with the local provider (default) and an OpenAI instance,
/// served on `socket`; a client of it.
async fn serve_gateway(root: &Path, socket: &Path) -> ModelClient {
    let local = LocalProvider::new(&LocalConfig {
        model_path: Some(tiny_model()),
        ..LocalConfig::default()
    })
    .with_socket(root.join("run/runtimed.sock"));
    let cloud = OpenAiProvider::new(
        &OpenAiConfig {
            // Never reached: counting asks no cloud API.
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "gpt-test".into(),
            timeout_secs: 5,
            max_retries: 0,
        },
        Ok(Some("sk-test".into())),
    )
    .unwrap();
    let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(local), Arc::new(cloud)];
    let gateway = Gateway::with_providers("local", None, providers);
    let listener = aios_proto::bind(socket).await.unwrap();
    tokio::spawn(
        Services::new("gatewayd")
            .model(Arc::new(gateway))
            .serve(listener, std::future::pending()),
    );
    ModelClient::new(aios_proto::connect(socket).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_model_counts_with_its_tokenizer_and_a_cloud_provider_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let _daemon = start_runtimed(root);
    let mut client = serve_gateway(root, &root.join("gw.sock")).await;

    let texts: Vec<String> = [
        "Hello world",
        "",
        "<|im_start|>",
        "How full is the disk at /var? Filesystem      Size  Used Avail Use% Mounted on\n/dev/vda        252G   81G   10G  90% /",
    ]
    .map(str::to_string)
    .to_vec();
    let counted = client
        .count_tokens(None, None, texts.clone(), DEADLINE)
        .await
        .unwrap();
    let counts = counted.counts.expect("the local provider counts");
    assert!(counted.detail.contains("local"), "{}", counted.detail);

    // The same model file's tokenizer, loaded here, agrees text by text.
    let rt = Runtime::load(
        tiny_model(),
        LoadOptions {
            n_ctx: 512,
            n_threads: 1,
        },
    )
    .unwrap();
    assert_eq!(counts, rt.count_tokens(&texts).unwrap());
    // And what SmolLM2's BPE makes of them: two words, nothing, one
    // special marker (as the chat template's text is tokenized), and a
    // longer text well under its byte count.
    assert_eq!(counts[..3], [2, 0, 1], "{counts:?}");
    assert!(
        counts[3] > 20 && (counts[3] as usize) < texts[3].len() / 2,
        "{counts:?}"
    );
    // A whole prompt adds the BOS, if the model has one, and nothing else.
    let whole = rt.token_count(&texts[0]).unwrap();
    assert!(whole == 2 || whole == 3, "{whole}");

    // A cloud provider offers no count: the caller is told to estimate.
    let cloud = client
        .count_tokens(Some("openai".into()), None, texts, DEADLINE)
        .await
        .unwrap();
    assert_eq!(cloud.counts, None);
    assert!(cloud.detail.contains("estimate"), "{}", cloud.detail);

    // An unknown provider is a clear error, not a silent estimate.
    let e = client
        .count_tokens(Some("nope".into()), None, vec!["x".into()], DEADLINE)
        .await
        .unwrap_err();
    assert!(e.message.contains("unknown provider"), "{e}");
}
