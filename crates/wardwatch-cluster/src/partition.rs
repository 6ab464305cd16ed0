//! Which partition an event travels on: a stable hash of its organization and its host, so one
//! host's events stay in order on one partition and every node computes the same answer.

/// FNV-1a, 64 bits: stable across versions and machines (the standard library's hasher is
/// not), and enough to spread hosts over at most 1024 partitions.
fn fnv1a(h: &mut u64, bytes: impl IntoIterator<Item = u8>) {
    for b in bytes {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// The partition (`0..partitions`) of an event of organization `org` from `host` (any case;
/// `None` or empty: the organization's events without a host share one partition).
pub fn partition(org: &str, host: Option<&str>, partitions: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    fnv1a(&mut h, org.bytes());
    fnv1a(&mut h, [0xff]);
    if let Some(host) = host {
        fnv1a(
            &mut h,
            host.trim()
                .chars()
                .flat_map(char::to_lowercase)
                .collect::<String>()
                .into_bytes(),
        );
    }
    (h % u64::from(partitions.max(1))) as u32
}

/// The organization as one NATS subject token: letters, digits, `-` and `_` kept, anything
/// else (dots, spaces, wildcards) as `_`, at most 64 characters; `_` for an empty one. Only for
/// operators' filters: the event itself names its organization.
pub fn org_token(org: &str) -> String {
    let t: String = org
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() { "_".into() } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_keeps_its_partition_whatever_its_case_and_hosts_spread() {
        let p = partition("st-anna", Some("WS-0042.clinic.local"), 8);
        assert_eq!(p, partition("st-anna", Some("ws-0042.CLINIC.local"), 8));
        assert_eq!(p, partition("st-anna", Some(" ws-0042.clinic.local "), 8));
        // Stable: the same answer on every node and version.
        assert_eq!(
            partition("default", Some("dc01"), 8),
            partition("default", Some("dc01"), 8)
        );
        let mut used = [0u32; 8];
        for i in 0..800 {
            used[partition("default", Some(&format!("host-{i}")), 8) as usize] += 1;
        }
        assert!(used.iter().all(|&n| n > 60), "{used:?}");
        // The organization is part of the key.
        let differ = (0..50)
            .filter(|i| {
                let h = format!("h{i}");
                partition("a", Some(&h), 16) != partition("b", Some(&h), 16)
            })
            .count();
        assert!(differ > 30, "{differ}");
        assert!(partition("x", None, 1) == 0 && partition("x", Some(""), 3) < 3);
    }

    #[test]
    fn an_organization_becomes_one_subject_token() {
        assert_eq!(org_token("st-anna_2"), "st-anna_2");
        assert_eq!(org_token("a.b c*>"), "a_b_c__");
        assert_eq!(org_token(""), "_");
        assert_eq!(org_token(&"x".repeat(100)).len(), 64);
    }
}
