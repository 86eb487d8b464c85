//! Every fuzz target's committed corpus (tests/fuzz/corpus, docs/fuzzing.md) runs again here,
//! on every test run, through the same entry points the fuzzer drives: inputs that once
//! crashed, hung or grew memory stay fixed, and the inputs that reach deep into each reader
//! keep being exercised without a fuzzer.

use std::path::{Path, PathBuf};

/// Each target, and what it runs.
const TARGETS: [(&str, fn(&[u8])); 7] = [
    ("decode", tincan_protocol::fuzzing::decode),
    ("server_messages", tincan_server::fuzzing::messages),
    ("audio_jitter", tincan_call::fuzzing::audio_jitter),
    ("video_jitter", tincan_call::fuzzing::video_jitter),
    ("ivf", tincan_media::fuzzing::ivf),
    ("y4m", tincan_media::fuzzing::y4m),
    ("wav", tincan_media::fuzzing::wav),
];

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

#[test]
fn every_fuzz_targets_corpus_replays() {
    for (target, run) in TARGETS {
        let dir = corpus(target);
        let inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        assert!(
            inputs.len() >= 10,
            "{target}: only {} inputs in {}",
            inputs.len(),
            dir.display()
        );
        for input in &inputs {
            let data = std::fs::read(input).expect("a corpus file");
            run(&data);
        }
        eprintln!("{target}: {} inputs replayed", inputs.len());
    }
}
