//! Architecture invariant: the policy engine is pure. It must never
//! depend on the async runtime, RPC, the tool catalogue or SQLite.

#[test]
fn the_engine_depends_on_nothing_it_must_not() {
    let manifest = include_str!("../Cargo.toml");
    let table: toml::Table = toml::from_str(manifest).unwrap_or_default();
    let deps = table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    assert!(!deps.is_empty(), "could not read [dependencies]");
    for forbidden in ["tokio", "tonic", "aios-catalog", "aios-proto", "rusqlite"] {
        assert!(
            !deps.contains_key(forbidden),
            "aios-policy must not depend on {forbidden}"
        );
    }
}
