//! Criterion benchmarks of the pure core: parsing a credentials or config file, classifying its
//! profiles, and replacing one key, in files of 10 to 100,000 profiles (the time should grow
//! linearly with the file). Run with `cargo bench --bench editor`; `-- --test` runs each once.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keyrot_agent::core::credentials::{FileKind, NewKey, parse};
use keyrot_agent::core::profiles::classify;
use std::hint::black_box;
use std::time::Duration;

fn credentials(profiles: usize) -> String {
    let mut s = String::from("# generated for the benchmark\n");
    for i in 0..profiles {
        s.push_str(&format!(
            "[profile-{i}]\naws_access_key_id = AKIABENCH{i:011}\naws_secret_access_key = benchSecret/{i:028}\nregion = us-east-1\n\n"
        ));
    }
    s
}

fn config(profiles: usize) -> String {
    let mut s = String::from("[default]\nregion = us-east-1\n");
    for i in 0..profiles {
        s.push_str(&format!(
            "[profile profile-{i}]\nregion = eu-west-1\noutput = json\n"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("profiles");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for n in [10usize, 1_000, 10_000, 100_000] {
        let text = credentials(n);
        let conf = config(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("parse credentials", n), &text, |b, t| {
            b.iter(|| parse(black_box(t.as_bytes()), FileKind::Credentials).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("parse config", n), &conf, |b, t| {
            b.iter(|| parse(black_box(t.as_bytes()), FileKind::Config).unwrap())
        });
        let parsed = parse(text.as_bytes(), FileKind::Credentials).unwrap();
        let parsed_config = parse(conf.as_bytes(), FileKind::Config).unwrap();
        let new = NewKey {
            access_key_id: "AKIANEWNEWNEWNEWNEW1",
            secret_access_key: "newSecret/0000000000000000000000000000000",
        };
        let old = format!("AKIABENCH{:011}", n / 2);
        group.bench_with_input(BenchmarkId::new("replace key", n), &parsed, |b, p| {
            b.iter(|| p.replace_key(black_box(&old), &new).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("classify", n), &parsed, |b, p| {
            b.iter(|| classify(black_box(p), Some(&parsed_config)))
        });
        // Parse, edit and parse the result again: what one rotation does to the file.
        group.bench_with_input(
            BenchmarkId::new("parse, edit, reparse", n),
            &text,
            |b, t| {
                b.iter(|| {
                    let p = parse(black_box(t.as_bytes()), FileKind::Credentials).unwrap();
                    let (edited, _) = p.replace_key(&old, &new).unwrap();
                    parse(edited.as_bytes(), FileKind::Credentials).unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
