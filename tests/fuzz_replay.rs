//! The handshake and REST-message fuzz targets (fuzz/harden/), replayed on stable with
//! random mutations of valid inputs: no coverage guidance, but the same checks (every
//! input answered, nothing panics) run in every `scripts/test`.

#[path = "../fuzz/harden/api_message.rs"]
mod api_message;
#[path = "../fuzz/harden/handshake.rs"]
mod handshake;

/// xorshift64*: deterministic, so a failure names its seed and case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the parsers, to insert or overwrite with.
const INTERESTING: &[u8] = b"\n\r:, \t{}[]\"\\0-1e9aZ/\x00\xff";

/// A few random edits of `seed`: flips, inserts, deletes, duplicated slices.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(6) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if at < out.len() => out[at] = INTERESTING[rng.below(INTERESTING.len())],
            1 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < out.len() => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 if at < out.len() => {
                let end = (at + rng.below(64)).min(out.len());
                let copy = out[at..end].to_vec();
                for _ in 0..rng.below(200) {
                    out.splice(at..at, copy.iter().copied());
                }
            }
            _ => out.push(rng.next() as u8),
        }
    }
    out
}

#[test]
fn handshake_inputs_are_answered() {
    let mut rng = Rng(0x5eed_0001);
    assert_eq!(handshake::run(handshake::SEED), 101);
    let mut statuses = std::collections::BTreeSet::new();
    for case in 0..3000 {
        let input = mutate(&mut rng, handshake::SEED);
        let run = std::panic::catch_unwind(|| handshake::run(&input));
        match run {
            Ok(status) => statuses.insert(status),
            Err(_) => panic!("case {case}: {:?}", String::from_utf8_lossy(&input)),
        };
    }
    // The mutations reach both the accept and the refusals.
    assert!(
        statuses.contains(&101) && statuses.contains(&400),
        "{statuses:?}"
    );
}

#[test]
fn api_messages_are_answered() {
    let mut rng = Rng(0x5eed_0002);
    for case in 0..3000 {
        let seed = api_message::SEEDS[case % api_message::SEEDS.len()];
        let input = mutate(&mut rng, seed.as_bytes());
        let run = std::panic::catch_unwind(|| api_message::run(&input));
        assert!(
            run.is_ok(),
            "case {case}: {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}
