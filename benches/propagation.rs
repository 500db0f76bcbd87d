//! Detection lag: how long after a new key starts to work (IAM propagation ends) keyrot-agent
//! notices. The fault proxy holds new keys back for 0, 2 and 8 s in front of moto; the lag is the
//! time from the end of that delay to the first GetCallerIdentity with the new key that
//! succeeds. The target is under 20% of the delay plus 250 ms.
//!
//! Run with `cargo bench --bench propagation` (starts its own moto; needs tests/requirements.txt).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::proxy::Proxy;
use support::{TestEnv, moto, profile};

fn lag(delay: Duration) -> Duration {
    let user = moto().user("bench-lag");
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(delay);
    let env = TestEnv::with_endpoint(&proxy.url);
    env.write_credentials(profile("default", &user));
    let out = env.command().arg("now").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = proxy.seen();
    let create = seen
        .iter()
        .position(|s| s.action == "CreateAccessKey")
        .unwrap();
    let new_key = seen[create + 1..]
        .iter()
        .find(|s| s.action == "GetCallerIdentity")
        .map(|s| s.key_id.clone())
        .unwrap();
    let works_at = proxy.propagated_at(&new_key).unwrap_or(seen[create].at);
    let noticed = seen
        .iter()
        .find(|s| s.key_id == new_key && s.action == "GetCallerIdentity" && s.status == 200)
        .unwrap()
        .at;
    noticed.saturating_duration_since(works_at)
}

fn main() {
    let runs: usize = std::env::var("KEYROT_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!(
        "detection lag (time from 'the key works' to 'keyrot-agent notices'), {runs} runs each:"
    );
    for secs in [0u64, 2, 8] {
        let delay = Duration::from_secs(secs);
        let mut lags: Vec<Duration> = (0..runs).map(|_| lag(delay)).collect();
        lags.sort();
        let median = lags[lags.len() / 2];
        let worst = *lags.last().unwrap();
        let budget = delay / 5 + Duration::from_millis(250);
        println!(
            "  delay {secs:>2} s: median {:>4} ms, worst {:>4} ms, budget {:>4} ms ({})",
            median.as_millis(),
            worst.as_millis(),
            budget.as_millis(),
            if worst <= budget { "within" } else { "OVER" }
        );
    }
}
