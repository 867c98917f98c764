//! Fuzz the configuration file: `Config::parse` takes any UTF-8 text and returns a config
//! or diagnostics, never a panic. Every diagnostic names the file and a 1-based position,
//! and a config that validates holds values within the documented ranges.
//!
//! Run: `cargo +nightly fuzz run config_yaml -- -max_len=2048`
//! (seed with `mkdir -p corpus/config_yaml && cp ../config/hotline.yaml corpus/config_yaml/`).

#![no_main]

use hotline::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse("fuzz.yaml", text) {
        Ok(config) => {
            assert!((1500..=1_048_576).contains(&config.max_message_bytes));
            assert!((1..=1_000_000).contains(&config.max_tcp_connections));
            assert!((5..=3600).contains(&config.rtp_timeout_secs));
            let (low, high) = config.rtp_ports;
            assert!(low >= 1024 && high >= low && high - low >= 3);
            assert!(!config.media_address.is_unspecified());
            assert!(config.numbers.values().all(|n| n.ring_secs <= 300));
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for d in &errors.0 {
                assert_eq!(d.file, "fuzz.yaml");
                let _ = d.to_string();
            }
        }
    }
});
