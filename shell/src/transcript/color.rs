//! Colours: parsing a theme's colour words and bringing a colour down to
//! what a terminal shows (24-bit → the 256-colour cube → the 16 ANSI
//! colours). Pure, so every mapping is unit-tested.

use ratatui::style::Color;

/// The 16 ANSI colours with the RGB values xterm shows them as; the
/// nearest of these stands in for a colour a 16-colour terminal lacks.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

/// The ANSI colour names a theme may use (besides `#rrggbb` and its
/// palette's names), for error messages and docs.
pub const NAMES: &[&str] = &[
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "dark-gray",
    "light-red",
    "light-green",
    "light-yellow",
    "light-blue",
    "light-magenta",
    "light-cyan",
    "white",
    "reset",
];

/// A colour word of a theme file: one of [`NAMES`] or `#rrggbb`.
pub fn parse(word: &str) -> Option<Color> {
    if let Some(hex) = word.strip_prefix('#') {
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some(Color::Rgb(byte(0)?, byte(2)?, byte(4)?));
    }
    let i = NAMES.iter().position(|n| *n == word)?;
    Some(match i {
        16 => Color::Reset,
        _ => ANSI16[i].0,
    })
}

/// The RGB of any colour but `Reset`.
pub fn rgb(c: Color) -> Option<(u8, u8, u8)> {
    match c {
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Indexed(i) => Some(indexed_rgb(i)),
        Color::Reset => None,
        named => ANSI16.iter().find(|(n, _)| *n == named).map(|(_, v)| *v),
    }
}

fn indexed_rgb(i: u8) -> (u8, u8, u8) {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    match i {
        0..=15 => ANSI16[usize::from(i)].1,
        16..=231 => {
            let i = i - 16;
            (
                LEVELS[usize::from(i / 36)],
                LEVELS[usize::from(i / 6 % 6)],
                LEVELS[usize::from(i % 6)],
            )
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    let (r, g, b) = (d(a.0, b.0), d(a.1, b.1), d(a.2, b.2));
    r * r + g * g + b * b
}

/// The nearest of the 256 indexed colours to a 24-bit one: the nearer of
/// the 6×6×6 cube's and the grey ramp's candidates (the first 16 are left
/// out, as terminals redefine them).
pub fn to_256(c: Color) -> Color {
    let Color::Rgb(r, g, b) = c else {
        return c;
    };
    // The cube's levels are 0, 95, 135, …, 255: the nearest per channel.
    let level = |v: u8| -> u8 {
        match v {
            0..48 => 0,
            48..115 => 1,
            _ => (v - 35) / 40,
        }
    };
    let cube = 16 + 36 * level(r) + 6 * level(g) + level(b);
    let avg = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let grey = 232 + (avg.saturating_sub(3) / 10).min(23) as u8;
    let d = |i: u8| distance((r, g, b), indexed_rgb(i));
    Color::Indexed(if d(grey) < d(cube) { grey } else { cube })
}

/// The nearest of the 16 ANSI colours, by hue: a muted accent keeps its
/// hue instead of snapping to whichever primary is nearest in RGB (pink
/// stays red, sky blue stays blue), and a greyish colour becomes a grey.
pub fn to_16(c: Color) -> Color {
    match c {
        Color::Indexed(i @ 0..=15) => ANSI16[usize::from(i)].0,
        Color::Rgb(..) | Color::Indexed(_) => {
            let Some((r, g, b)) = rgb(c) else {
                return c;
            };
            nearest_16(r, g, b)
        }
        named => named,
    }
}

fn nearest_16(r: u8, g: u8, b: u8) -> Color {
    let (hi, lo) = (r.max(g).max(b), r.min(g).min(b));
    let chroma = i32::from(hi - lo);
    // Saturation below a fifth: a grey.
    if chroma * 5 < i32::from(hi) || chroma < 16 {
        return match hi {
            0..=60 => Color::Black,
            61..=160 => Color::DarkGray,
            161..=235 => Color::Gray,
            _ => Color::White,
        };
    }
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let hue = if i32::from(hi) == r {
        (60 * (g - b) / chroma).rem_euclid(360)
    } else if i32::from(hi) == g {
        60 * (b - r) / chroma + 120
    } else {
        60 * (r - g) / chroma + 240
    };
    let light = (i32::from(hi) + i32::from(lo)) / 2 > 140;
    let (base, bright) = match hue {
        0..20 | 340.. => (Color::Red, Color::LightRed),
        20..75 => (Color::Yellow, Color::LightYellow),
        75..150 => (Color::Green, Color::LightGreen),
        150..200 => (Color::Cyan, Color::LightCyan),
        200..270 => (Color::Blue, Color::LightBlue),
        _ => (Color::Magenta, Color::LightMagenta),
    };
    if light { bright } else { base }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_and_bad_ones_do_not() {
        assert_eq!(parse("#ff8000"), Some(Color::Rgb(255, 128, 0)));
        assert_eq!(parse("light-red"), Some(Color::LightRed));
        assert_eq!(parse("dark-gray"), Some(Color::DarkGray));
        assert_eq!(parse("reset"), Some(Color::Reset));
        for bad in ["#ff80", "#gg0000", "bleu", "Red", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn truecolor_comes_down_to_256_and_16() {
        assert_eq!(to_256(Color::Rgb(255, 0, 0)), Color::Indexed(196));
        assert_eq!(to_256(Color::Rgb(128, 128, 128)), Color::Indexed(244));
        assert_eq!(to_256(Color::Red), Color::Red);
        // The closed form picks what a search of all 240 would.
        for (r, g, b) in [
            (97, 175, 239),
            (1, 2, 3),
            (250, 128, 7),
            (124, 133, 148),
            (255, 255, 255),
        ] {
            let best = (16u8..=255)
                .min_by_key(|i| distance((r, g, b), indexed_rgb(*i)))
                .unwrap_or(16);
            let got = to_256(Color::Rgb(r, g, b));
            let Color::Indexed(i) = got else {
                panic!("{got:?}")
            };
            assert_eq!(
                distance((r, g, b), indexed_rgb(i)),
                distance((r, g, b), indexed_rgb(best)),
                "{r},{g},{b}"
            );
        }
        assert_eq!(to_16(Color::Rgb(224, 108, 117)), Color::LightRed);
        assert_eq!(to_16(Color::Rgb(207, 34, 46)), Color::Red);
        assert_eq!(to_16(Color::Rgb(209, 154, 102)), Color::LightYellow);
        assert_eq!(to_16(Color::Rgb(86, 182, 194)), Color::Cyan);
        assert_eq!(to_16(Color::Rgb(198, 120, 221)), Color::LightMagenta);
        assert_eq!(to_16(Color::Rgb(124, 133, 148)), Color::DarkGray);
        assert_eq!(to_16(Color::Rgb(97, 175, 239)), Color::LightBlue);
        assert_eq!(to_16(Color::Rgb(92, 99, 112)), Color::DarkGray);
        assert_eq!(to_16(Color::Rgb(250, 250, 250)), Color::White);
        assert_eq!(to_16(Color::Indexed(196)), Color::Red);
        assert_eq!(to_16(Color::Indexed(3)), Color::Yellow);
        assert_eq!(to_16(Color::Green), Color::Green);
    }
}
