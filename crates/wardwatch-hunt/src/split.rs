//! The fixed split of labelled sample sets into a tuning half and a validation half.
//!
//! Why: rules and thresholds tuned on the samples they are measured on look better than they
//! are. Every labelled file goes to one half by a hash of its base name (FNV-1a 64, bit 32), so
//! the split is the same on every machine and in `bench/efficacy.py`, which computes it the
//! same way. Rules are written and levels calibrated on the tuning half only; the validation
//! half says whether a change generalizes.

use std::path::Path;

/// Which half of a labelled set a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Half {
    Tuning,
    Validation,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The half of `path`, from its base name.
pub fn half(path: &Path) -> Half {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if (fnv1a64(name.as_bytes()) >> 32) & 1 == 1 {
        Half::Validation
    } else {
        Half::Tuning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_and_the_split_is_by_base_name() {
        // FNV-1a 64 reference values.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(half(Path::new("/x/y/a.evtx")), half(Path::new("a.evtx")));
    }
}
