//! Detection lag: how long after a new key starts to work (IAM propagation ends) keyrot-agent
//! notices. The fault proxy holds new keys back for 0, 2 and 8 s in front of moto; the lag is the
//! time from the end of that delay to the first GetCallerIdentity with the new key that
//! succeeds. The target is under 20% of the delay plus 250 ms.
//!
//! It also times `now --all` over ten profiles of ten users with the same delay (the keys
//! rotated side by side), next to one such rotation and to the same ten keys rotated one after
//! another (ten `now --profile` runs), in the same run: the figure for rotating many keys at once.
//!
//! Run with `cargo bench --bench propagation` (starts its own moto; needs tests/requirements.txt).
//! `KEYROT_BENCH_RUNS` sets the runs per figure (default 5; `benches/run.sh --smoke` uses 1).

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

/// The wall time of one `now --all` over `users` profiles, each of its own user, with every
/// new key held back `delay` by the proxy; with `one_by_one`, of one `now --profile` per profile
/// instead, one after another.
fn many(users: usize, delay: Duration, one_by_one: bool) -> Duration {
    let proxy = Proxy::start(&moto().url);
    proxy.delay_new_keys(delay);
    let env = TestEnv::with_endpoint(&proxy.url);
    let text: String = (0..users)
        .map(|i| profile(&format!("p{i}"), &moto().user("bench-many")))
        .collect();
    env.write_credentials(text);
    let runs: Vec<Vec<String>> = if one_by_one {
        (0..users)
            .map(|i| vec!["now".into(), "--profile".into(), format!("p{i}")])
            .collect()
    } else {
        vec![vec!["now".into(), "--all".into()]]
    };
    let start = std::time::Instant::now();
    for args in runs {
        let out = env.command().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
    let delay = Duration::from_secs(2);
    let one = median((0..runs).map(|_| many(1, delay, false)).collect());
    let sequential = median((0..runs).map(|_| many(10, delay, true)).collect());
    let ten = median((0..runs).map(|_| many(10, delay, false)).collect());
    println!(
        "many keys, 2 s propagation each: one key {} ms; ten users' keys one after another {} ms ({:.1}x one rotation), side by side {} ms: {:.2}x one rotation (goal: 1.5x), {:.1}x faster",
        one.as_millis(),
        sequential.as_millis(),
        sequential.as_secs_f64() / one.as_secs_f64(),
        ten.as_millis(),
        ten.as_secs_f64() / one.as_secs_f64(),
        sequential.as_secs_f64() / ten.as_secs_f64()
    );
}
