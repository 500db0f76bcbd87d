//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the
//! cargo-fuzz targets run (`fuzz/checks.rs`), on stable Rust: every input a fuzzing run found
//! interesting, and every crash it ever found once fixed, stays a regression test. Each input
//! must finish quickly; a hang shows as this test timing out.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(
            result.is_ok(),
            "{target}: {} fails its check",
            path.display()
        );
        inputs += 1;
    }
    assert!(inputs > 0, "{target}: empty corpus");
    eprintln!("{target}: {inputs} inputs replayed");
}

#[test]
fn credentials_corpus() {
    replay("credentials", checks::credentials);
}

#[test]
fn edit_corpus() {
    replay("edit", checks::edit);
}

#[test]
fn config_corpus() {
    replay("config", checks::config);
}

#[test]
fn state_corpus() {
    replay("state", checks::state);
}
