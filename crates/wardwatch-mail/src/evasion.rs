//! Filter evasion in the text itself: letters borrowed from other Unicode blocks to look like
//! Latin ones (𝐩𝐡𝐨𝐭𝐨𝐬, ᴘᴀʏᴍᴇɴᴛ, ｆｕｌｌｗｉｄｔｈ) and words broken up letter by letter
//! (`C.a.l.l.e.d`, `p-a-y-m-e-n-t`), so that word lists miss them.
//!
//! Both are folded back before the wording checks read the text, and both are reasons of their
//! own: ordinary mail has no cause to write this way.

/// Folds look-alike letters to ASCII; returns the text and how many letters were folded.
///
/// Fullwidth forms are ordinary in Chinese, Japanese and Korean text: there they are folded but
/// not counted.
pub(crate) fn fold_fancy(s: &str) -> (String, usize) {
    let cjk = s
        .chars()
        .any(|c| matches!(c as u32, 0x3040..=0x9FFF | 0xAC00..=0xD7AF));
    let mut out = String::with_capacity(s.len());
    let mut folded = 0;
    for c in s.chars() {
        match fancy(c) {
            Some(a) => {
                out.push(a);
                if !(cjk && (0xFF01..=0xFF5E).contains(&(c as u32))) {
                    folded += 1;
                }
            }
            None => out.push(c),
        }
    }
    (out, folded)
}

fn fancy(c: char) -> Option<char> {
    let u = c as u32;
    let letter = |i: u32| {
        if i < 26 {
            char::from_u32('A' as u32 + i)
        } else {
            char::from_u32('a' as u32 + i - 26)
        }
    };
    match u {
        // Mathematical alphanumeric symbols: bold, italic, script, fraktur, double-struck,
        // sans-serif, monospace — 52 letters per style.
        0x1D400..=0x1D6A3 => letter((u - 0x1D400) % 52),
        0x1D7CE..=0x1D7FF => char::from_u32('0' as u32 + (u - 0x1D7CE) % 10),
        // Fullwidth ASCII.
        0xFF01..=0xFF5E => char::from_u32(u - 0xFEE0),
        // Enclosed alphanumerics: circled and parenthesized letters.
        0x24B6..=0x24CF => char::from_u32('A' as u32 + u - 0x24B6),
        0x24D0..=0x24E9 => char::from_u32('a' as u32 + u - 0x24D0),
        0x1F130..=0x1F149 => char::from_u32('A' as u32 + u - 0x1F130),
        0x1F150..=0x1F169 => char::from_u32('A' as u32 + u - 0x1F150),
        0x1F170..=0x1F189 => char::from_u32('A' as u32 + u - 0x1F170),
        0x1F1E6..=0x1F1FF => None,
        _ => small_capital(c),
    }
}

/// Latin small capitals and other phonetic letters used as look-alikes.
fn small_capital(c: char) -> Option<char> {
    Some(match c {
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ꞯ' => 'q',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => return None,
    })
}

/// Whether the text spells a word letter by letter with separators (`C.a.l.l.e.d`), four
/// letters or more.
pub(crate) fn split_letters(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i + 6 < chars.len() {
        let sep = chars[i + 1];
        if chars[i].is_alphabetic() && matches!(sep, '.' | '-' | '_' | '*' | '|' | '~') {
            let mut n = 1;
            let mut j = i;
            while j + 2 < chars.len() && chars[j + 1] == sep && chars[j + 2].is_alphabetic() {
                n += 1;
                j += 2;
                if j + 1 < chars.len() && chars[j + 1].is_alphabetic() {
                    // The run ends inside a word (`e.mail`, `re-send`): not letters spelled out.
                    n = 0;
                    break;
                }
            }
            let starts_word = i == 0 || !chars[i - 1].is_alphanumeric();
            if n >= 4 && starts_word {
                return true;
            }
            i = j.max(i) + 1;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_letters_fold_and_count() {
        let (s, n) = fold_fancy("all your 𝐩𝐡𝐨𝐭𝐨𝐬 ᴘᴀʏᴍᴇɴᴛ ｆｒｅｅ");
        assert_eq!(s, "all your photos payment free");
        assert_eq!(n, 17);
        assert_eq!(fold_fancy("Grüße, 東京").1, 0);
    }

    #[test]
    fn words_spelled_out_letter_by_letter() {
        assert!(split_letters("We C.a.l.l.e.d You 3 Times"));
        assert!(split_letters("ᴘ.ᴀ.ʏ.ᴍ.ᴇ.ɴ.ᴛ-ᴅ.ᴇ.ᴄ"));
        assert!(!split_letters(
            "see e.g. the u.s. office and e-mail re-send"
        ));
        assert!(!split_letters("file_name_here and www.example.org"));
    }
}
