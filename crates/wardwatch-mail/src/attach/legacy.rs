//! Old encodings that still carry programs past filters: Microsoft's SZDD compression
//! (`compress.exe`, the `setup.ex_` of old installers), BinHex 4.0, and uuencoded blocks in a
//! message's text.

/// Expands an SZDD file (LZSS with a 4 KiB window).
pub(super) fn szdd(data: &[u8]) -> Option<Vec<u8>> {
    let size = u32::from_le_bytes(data.get(10..14)?.try_into().ok()?) as usize;
    let mut window = [b' '; 4096];
    let mut pos = 4096 - 16;
    let mut out = Vec::with_capacity(size.min(super::MAX_MEMBER));
    let mut i = 14;
    while i < data.len() && out.len() < size.min(super::MAX_MEMBER) {
        let flags = data[i];
        i += 1;
        for bit in 0..8 {
            if i >= data.len() || out.len() >= size {
                break;
            }
            if flags & (1 << bit) != 0 {
                let c = data[i];
                i += 1;
                out.push(c);
                window[pos] = c;
                pos = (pos + 1) & 4095;
            } else {
                let (lo, hi) = (*data.get(i)? as usize, *data.get(i + 1)? as usize);
                i += 2;
                let mut src = lo | ((hi & 0xF0) << 4);
                let len = (hi & 0x0F) + 3;
                for _ in 0..len {
                    let c = window[src];
                    out.push(c);
                    window[pos] = c;
                    pos = (pos + 1) & 4095;
                    src = (src + 1) & 4095;
                }
            }
        }
    }
    Some(out)
}

/// Decodes BinHex 4.0: the file's name and its data fork.
pub(super) fn binhex(data: &[u8]) -> Option<(String, Vec<u8>)> {
    const ALPHABET: &[u8] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    let text = data;
    let marker = memchr::memmem::find(text, b"(This file must be converted with BinHex")?;
    let start = marker + memchr::memchr(b':', &text[marker..])? + 1;
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut raw = Vec::new();
    for &c in &text[start..] {
        if c == b':' {
            break;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            raw.push((bits >> nbits) as u8);
        }
    }
    // Run-length decoding: 0x90 n repeats the previous byte (n = 0 is a literal 0x90).
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == 0x90 && i + 1 < raw.len() {
            let n = raw[i + 1] as usize;
            if n == 0 {
                out.push(0x90);
            } else if let Some(&prev) = out.last() {
                out.extend(std::iter::repeat_n(prev, n.saturating_sub(1)));
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    let name_len = *out.first()? as usize;
    let name = String::from_utf8_lossy(out.get(1..1 + name_len)?).into_owned();
    // name, version byte, type (4), creator (4), flags (2), data length (4), resource length (4), CRC (2).
    let p = 1 + name_len + 1 + 4 + 4 + 2;
    let dlen = u32::from_be_bytes(out.get(p..p + 4)?.try_into().ok()?) as usize;
    let dstart = p + 4 + 4 + 2;
    let fork = out
        .get(dstart..dstart.checked_add(dlen)?.min(out.len()))?
        .to_vec();
    Some((name, fork))
}

/// Uuencoded blocks (`begin 644 name` … `end`) in a text: `(name, bytes)` each.
pub(crate) fn uudecode_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("begin ") else {
            continue;
        };
        let mut parts = rest.splitn(2, ' ');
        let mode = parts.next().unwrap_or("");
        let Some(name) = parts.next() else { continue };
        if mode.is_empty() || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            continue;
        }
        let mut bytes = Vec::new();
        for l in lines.by_ref() {
            if l == "end" || l.starts_with("end ") || l.trim() == "end" {
                break;
            }
            let b = l.as_bytes();
            let Some(&first) = b.first() else { continue };
            let n = ((first.wrapping_sub(b' ')) & 0x3F) as usize;
            if n == 0 {
                continue;
            }
            let dec = |c: u8| (c.wrapping_sub(b' ')) & 0x3F;
            let mut chunk = Vec::with_capacity(n + 3);
            for quad in b[1..].chunks(4) {
                let q: Vec<u8> = (0..4).map(|k| dec(*quad.get(k).unwrap_or(&b'`'))).collect();
                chunk.push((q[0] << 2) | (q[1] >> 4));
                chunk.push((q[1] << 4) | (q[2] >> 2));
                chunk.push((q[2] << 6) | q[3]);
            }
            chunk.truncate(n);
            bytes.extend_from_slice(&chunk);
            if bytes.len() > super::MAX_MEMBER {
                break;
            }
        }
        out.push((name.trim().to_string(), bytes));
        if out.len() >= 16 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuencoded_block_decodes() {
        // "Cat" uuencoded.
        let blocks = uudecode_blocks("hello\nbegin 644 cat.txt\n#0V%T\n`\nend\n");
        assert_eq!(blocks, vec![("cat.txt".to_string(), b"Cat".to_vec())]);
    }

    #[test]
    fn szdd_literals_and_back_references() {
        // "abcabcabc": three literals then a reference to window position 4080, length 6.
        let mut f = b"SZDD\x88\xF0\x27\x33A\x00".to_vec();
        f.extend_from_slice(&9u32.to_le_bytes());
        f.push(0b0000_0111);
        f.extend_from_slice(b"abc");
        f.extend_from_slice(&[0xF0, 0xF3]);
        assert_eq!(szdd(&f).unwrap(), b"abcabcabc");
    }
}
