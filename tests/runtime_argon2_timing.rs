//! Measures Argon2id password hashing at the runtime's parameters. Ignored by default because
//! it is a measurement, not a check; `bench/run.sh` runs it in release mode and prints the
//! figure.

use std::time::Instant;

use ciam_operator::runtime::crypto::{
    ARGON2_ITERATIONS, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, hash_password, verify_password,
};

#[test]
#[ignore = "a measurement run by bench/run.sh"]
fn argon2id_hash_time() {
    let rounds = 9;
    let mut hash_ms = Vec::with_capacity(rounds);
    let mut verify_ms = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let password = format!("Bench-Password-{round}");
        let started = Instant::now();
        let phc = hash_password(&password).expect("hash");
        hash_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        assert!(verify_password(&password, &phc));
        verify_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    hash_ms.sort_by(f64::total_cmp);
    verify_ms.sort_by(f64::total_cmp);
    println!(
        "ARGON2ID m={ARGON2_MEMORY_KIB}KiB t={ARGON2_ITERATIONS} p={ARGON2_PARALLELISM} hash_median_ms={:.1} verify_median_ms={:.1} rounds={rounds}",
        hash_ms[rounds / 2],
        verify_ms[rounds / 2]
    );
}
