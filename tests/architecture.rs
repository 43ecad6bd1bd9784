//! Dependencies point one way: lookout → collector, query, ui → store. Checked over
//! `cargo metadata` so a stray dependency fails the suite.

use std::collections::HashMap;
use std::process::Command;

#[test]
fn crate_dependencies_point_down_only() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let ds = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap_or_default().to_string())
            .filter(|n| n.starts_with("lookout"))
            .collect();
        deps.insert(name, ds);
    }
    let allowed: &[(&str, &[&str])] = &[
        ("lookout-store", &[]),
        ("lookout-collector", &["lookout-store"]),
        ("lookout-query", &["lookout-store"]),
        ("lookout-ui", &["lookout-store"]),
        (
            "lookout",
            &[
                "lookout-store",
                "lookout-collector",
                "lookout-query",
                "lookout-ui",
            ],
        ),
    ];
    for (krate, ok) in allowed {
        let have = deps
            .get(*krate)
            .unwrap_or_else(|| panic!("crate {krate} is missing from the workspace"));
        for d in have {
            assert!(ok.contains(&d.as_str()), "{krate} must not depend on {d}");
        }
    }
}
