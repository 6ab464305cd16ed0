//! Every decoder takes arbitrary bytes without panicking: random input and mutations of real
//! and realistic records, from a fixed-seed xorshift generator so a failure reproduces. This is
//! the part of the fuzzing (see `fuzz/`) that runs on stable in every CI run.

mod common;

use std::path::Path;

use jiff::Timestamp;
use wardwatch_core::Origin;
use wardwatch_ingest::{detect_format, eve, evtx, jsonl, syslog};

/// Marsaglia's xorshift64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the decoders' grammars, spliced in by [`mutate`].
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"<",
    b">",
    b"|",
    b"=",
    b" ",
    b"\n",
    b"\xff",
    b"\xef\xbb\xbf",
    b"CEF:0|",
    b"@cee:",
    b"-",
    b"+0000",
    b"Z",
    b"T",
    b"/Date(",
    b"0x",
    b"99999999999999999999",
    b"\"event_type\":",
    b"\"winlog\":",
    b"\"EventID\":",
    b"Feb 29 ",
    b"<999>",
    b"1 ",
    b"\xe2\x82\xac",
    b"\0",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 => out.truncate(at),
            _ => {
                let n = rng.below(8);
                out.splice(at..at, (0..n).map(|_| rng.next() as u8));
            }
        }
    }
    out
}

fn random(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max);
    (0..n).map(|_| rng.next() as u8).collect()
}

/// `iterations` inputs for `f`: a quarter random, the rest mutated seeds.
fn drive(seed: u64, iterations: usize, seeds: &[Vec<u8>], mut f: impl FnMut(&[u8])) {
    let mut rng = Rng(seed);
    for _ in 0..iterations {
        let input = if seeds.is_empty() || rng.below(4) == 0 {
            random(&mut rng, 256)
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        f(&input);
    }
}

const JSON_SEEDS: &[&str] = &[
    r#"{"@timestamp":"2024-03-01T10:00:00Z","winlog":{"channel":"Security","event_id":4624,"computer_name":"DC01","event_data":{"TargetUserName":"alice","IpAddress":"::ffff:10.1.2.3","IpPort":"50123"}},"host":{"name":"wec"}}"#,
    r#"{"winlog.channel":"Microsoft-Windows-Sysmon/Operational","winlog.event_id":"1","winlog.event_data.ProcessId":"0x1a4","process.command_line":"x"}"#,
    r#"{"@timestamp":"2019-05-18T20:42:59.034Z","event_id":4688,"log_name":"Security","computer_name":"HR001","user_data":{"X":{"SubjectUserName":"u"}}}"#,
    r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"ws","EventTime":"2020-08-07 10:32:22","Image":"C:\\a.exe","ProcessId":"77"}"#,
    r#"{"TimeCreated":"/Date(1603335121720+0100)/","EventId":7045,"MachineName":"m","EventData":{"ImagePath":"x"}}"#,
    r#"{"timestamp":"2020-09-22T18:53:30.854698+0000","flow_id":1,"event_type":"dns","src_ip":"172.18.39.5","src_port":54822,"dest_ip":"172.18.38.5","dest_port":53,"proto":"UDP","dns":{"type":"request","queries":[{"rrname":"WORKSTATION6"}]}}"#,
    r#"{"timestamp":"2020-08-06T15:56:22.454612+0000","flow_id":1,"event_type":"alert","app_proto":"http","alert":{"signature":"x"},"http":{"hostname":"fe80::1","http_port":8080,"url":"x"},"tls":{"sni":"a"},"krb5":{"cname":"u","realm":"R"},"smb":{"ntlmssp":{"user":"u"}},"files":[{"filename":"f"}]}"#,
    r#"{"ts":1591367999.305988,"host":"h","user.name":"u","source":{"port":"70000"},"event":{"category":["a","b"]}}"#,
];

const SYSLOG_SEEDS: &[&str] = &[
    r#"<165>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][p@1 class="high" class="urgent"] An application event log entry"#,
    "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8",
    "<13>Feb 29 10:00:00 h app: x",
    "<34>1 - - - - - - hello",
    r"<134>Mar  1 11:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|THREAT|url|3|src=10.0.0.5 dst=1.2.3.4 dpt=80 suser=HOSP\\bob request=http://bad.example/x",
    r"<134>Mar  1 11:00:00 CEF:0|V|P|1|42|Thing \| happened|5|src=10.1.1.1 msg=a\=b cs1=x\ny",
    r#"<14>Mar  1 11:00:00 ehr01 audit[77]: {"user":{"name":"nurse1"},"message":"viewed chart"}"#,
    r#"<14>Mar  1 11:00:00 h app: @cee: {"host":{"name":"inner"},"a":1}"#,
    "<30>Oct 12 2019 12:00:00 host sshd[22]: Accepted password for root from 10.0.0.1 port 22 ssh2",
];

fn seeds(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// One line of each event type from the real EVE files, when the shared data is there.
fn real_eve_lines() -> Vec<Vec<u8>> {
    let Some(data) = common::shared_data() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in common::files_under(&data.join("network/suricata"), ".json") {
        let bytes = std::fs::read(&f).unwrap();
        for line in common::first_lines(&bytes, usize::MAX) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            if seen.insert(v["event_type"].to_string()) {
                out.push(line.to_vec());
            }
        }
    }
    out
}

#[test]
fn jsonl_lines_and_times() {
    let mut seeds = seeds(JSON_SEEDS);
    seeds.extend(real_eve_lines());
    drive(0x5eed_0001, 20_000, &seeds, |input| {
        if let Ok(ev) = jsonl::decode_line(input, Origin::default()) {
            serde_json::to_vec(&ev).unwrap();
        }
        let _ = jsonl::parse_time(&String::from_utf8_lossy(input));
    });
}

#[test]
fn eve_values() {
    let mut seeds = seeds(&JSON_SEEDS[5..]);
    seeds.extend(real_eve_lines());
    drive(0x5eed_0002, 20_000, &seeds, |input| {
        let _ = eve::looks_like_eve(&String::from_utf8_lossy(input));
        if let Ok(v) = serde_json::from_slice(input) {
            serde_json::to_vec(&eve::decode_value(v, Origin::default())).unwrap();
        }
    });
}

#[test]
fn syslog_lines() {
    let now: Timestamp = "2024-03-01T12:00:00Z".parse().unwrap();
    drive(0x5eed_0003, 20_000, &seeds(SYSLOG_SEEDS), |input| {
        let ev = syslog::decode_bytes(input, Origin::default(), now);
        assert!(ev.ecs.message.is_some());
        serde_json::to_vec(&ev).unwrap();
    });
}

#[test]
fn format_detection() {
    let mut all = seeds(JSON_SEEDS);
    all.extend(seeds(SYSLOG_SEEDS));
    all.push(b"ElfFile\0".to_vec());
    drive(0x5eed_0004, 20_000, &all, |input| {
        let _ = detect_format(input);
    });
}

#[test]
fn evtx_buffers() {
    // EVTX inputs are a file header and a 64 KiB chunk, so fewer of them: enough to reach the
    // chunk and record parsers many times over.
    let mut seeds = Vec::new();
    if let Some(data) = common::shared_data() {
        for name in ["security.evtx", "system.evtx"] {
            let bytes = std::fs::read(data.join("evtx/dense-samples").join(name)).unwrap();
            seeds.push(bytes[..4096 + 65536].to_vec());
        }
    }
    let mut rng = Rng(0x5eed_0005);
    for i in 0..400 {
        let mut input = if seeds.is_empty() || i % 4 == 0 {
            let mut b = b"ElfFile\0".to_vec();
            b.extend(random(&mut rng, 8192));
            b
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            let mut m = seed.clone();
            // Damage a few spots anywhere in the header or the chunk.
            for _ in 0..=rng.below(8) {
                let at = rng.below(m.len());
                m[at] = rng.next() as u8;
            }
            m
        };
        if i % 7 == 0 {
            let cut = rng.below(input.len());
            input.truncate(cut);
        }
        let _ = evtx::read(
            Path::new("fuzz.evtx"),
            "fuzz.evtx",
            Some(input),
            1,
            |item| item.is_ok(),
            |_| {},
        );
    }
}
