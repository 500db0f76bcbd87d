//! Criterion benchmarks of the pure core: parsing a credentials file and replacing a key in it.
//! Run with `cargo bench --bench editor`.

use criterion::{Criterion, criterion_group, criterion_main};
use keyrot_agent::core::credentials::{FileKind, NewKey, parse};
use keyrot_agent::core::profiles::classify;
use std::hint::black_box;

fn file(profiles: usize) -> String {
    let mut s = String::from("# generated for the benchmark\n");
    for i in 0..profiles {
        s.push_str(&format!(
            "[profile-{i}]\naws_access_key_id = AKIABENCH{i:011}\naws_secret_access_key = benchSecret/{i:028}\nregion = us-east-1\n\n"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    for n in [3, 200] {
        let text = file(n);
        c.bench_function(&format!("parse {n} profiles"), |b| {
            b.iter(|| parse(black_box(text.as_bytes()), FileKind::Credentials).unwrap())
        });
        let parsed = parse(text.as_bytes(), FileKind::Credentials).unwrap();
        let new = NewKey {
            access_key_id: "AKIANEWNEWNEWNEWNEW1",
            secret_access_key: "newSecret/0000000000000000000000000000000",
        };
        let old = format!("AKIABENCH{:011}", n / 2);
        c.bench_function(&format!("replace key in {n} profiles"), |b| {
            b.iter(|| parsed.replace_key(black_box(&old), &new).unwrap())
        });
        c.bench_function(&format!("classify {n} profiles"), |b| {
            b.iter(|| classify(black_box(&parsed), None))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
