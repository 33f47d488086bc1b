//! A small PDF writer for the documents the server prints (the musdes berita acara; the period's
//! summaries next): A4 pages of text in the standard Helvetica fonts, flowing down the page with
//! word wrap, simple tables with ruled rows, and signature lines.
//!
//! Why not a crate: the documents need no embedded font (every PDF reader has the 14 standard
//! fonts, and their WinAnsi encoding covers Indonesian), no images, no compression; the whole
//! format for that is a page of code, and a crate would bring a font stack into a lean build.
//! Characters outside WinAnsi print as `?`. Widths are Helvetica's averaged per character class,
//! close enough to wrap without overflowing a column (the tests read the text back with
//! `pdftotext`).

use std::fmt::Write as _;

/// A4 in points.
const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
/// Page margins, points.
const MARGIN: f32 = 50.0;

/// A PDF being written, top to bottom.
pub struct Doc {
    pages: Vec<String>,
    ops: String,
    /// Baseline of the next line, points from the bottom.
    y: f32,
}

/// The width of `s` in Helvetica at `size` points (bold a little wider).
fn width(s: &str, size: f32, bold: bool) -> f32 {
    let em: f32 = s
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' => 0.28,
            'f' | 't' | 'r' | '(' | ')' | '-' | '/' => 0.36,
            'm' | 'w' | 'M' | 'W' => 0.86,
            'A'..='Z' | '0'..='9' | '*' => 0.67,
            _ => 0.56,
        })
        .sum();
    em * size * if bold { 1.07 } else { 1.0 }
}

/// `s` as a PDF string literal in WinAnsi.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            // WinAnsi's dashes and bullet, then Latin-1 as itself.
            '—' => out.push_str("\\227"),
            '–' => out.push_str("\\226"),
            '•' => out.push_str("\\225"),
            c if (c as u32) >= 0xA0 && (c as u32) <= 0xFF => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Splits `s` into lines no wider than `max` points.
pub fn wrap(s: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if width(&candidate, size, bold) <= max || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

impl Default for Doc {
    fn default() -> Self {
        Doc::new()
    }
}

impl Doc {
    /// An empty document on its first page.
    pub fn new() -> Doc {
        Doc {
            pages: Vec::new(),
            ops: String::new(),
            y: HEIGHT - MARGIN,
        }
    }

    /// The usable width of a page.
    pub fn text_width(&self) -> f32 {
        WIDTH - 2.0 * MARGIN
    }

    fn put(&mut self, x: f32, y: f32, size: f32, bold: bool, s: &str) {
        let font = if bold { "F2" } else { "F1" };
        let _ = writeln!(
            self.ops,
            "BT /{font} {size:.1} Tf {x:.1} {y:.1} Td {} Tj ET",
            literal(s)
        );
    }

    /// Starts a new page when fewer than `points` are left above the bottom margin.
    pub fn need(&mut self, points: f32) {
        if self.y - points < MARGIN {
            self.page_break();
        }
    }

    /// Ends the page and starts another.
    pub fn page_break(&mut self) {
        self.pages.push(std::mem::take(&mut self.ops));
        self.y = HEIGHT - MARGIN;
    }

    /// A paragraph across the page, wrapped.
    pub fn paragraph(&mut self, s: &str, size: f32, bold: bool) {
        for line in wrap(s, size, bold, self.text_width()) {
            self.need(size * 1.35);
            self.y -= size * 1.35;
            let y = self.y;
            self.put(MARGIN, y, size, bold, &line);
        }
    }

    /// A line centred on the page.
    pub fn centred(&mut self, s: &str, size: f32, bold: bool) {
        for line in wrap(s, size, bold, self.text_width()) {
            self.need(size * 1.35);
            self.y -= size * 1.35;
            let x = (WIDTH - width(&line, size, bold)) / 2.0;
            let y = self.y;
            self.put(x.max(MARGIN), y, size, bold, &line);
        }
    }

    /// Vertical space, points.
    pub fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    fn rule(&mut self, x1: f32, y1: f32, x2: f32, y2: f32) {
        let _ = writeln!(self.ops, "0.5 w {x1:.1} {y1:.1} m {x2:.1} {y2:.1} l S");
    }

    /// A table: column widths as shares of the page width, a bold header row, then the rows,
    /// each cell wrapped, rules between rows; the header repeats on each new page.
    pub fn table(&mut self, shares: &[f32], header: &[&str], rows: &[Vec<String>], size: f32) {
        let total: f32 = shares.iter().sum();
        let widths: Vec<f32> = shares
            .iter()
            .map(|s| s / total * self.text_width())
            .collect();
        let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        let lay = |cells: &[String], bold: bool| -> Vec<Vec<String>> {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| wrap(c, size, bold, w - 6.0))
                .collect()
        };
        let head = lay(&header, true);
        self.need(2.0 * Self::row_height(&head, size));
        self.top_rule();
        self.row(&head, &widths, size, true);
        for cells in rows {
            let laid = lay(cells, false);
            if self.y - Self::row_height(&laid, size) < MARGIN {
                self.page_break();
                self.top_rule();
                self.row(&head, &widths, size, true);
            }
            self.row(&laid, &widths, size, false);
        }
    }

    fn row_height(cells: &[Vec<String>], size: f32) -> f32 {
        cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * size * 1.3 + 4.0
    }

    fn top_rule(&mut self) {
        let y = self.y;
        self.rule(MARGIN, y, WIDTH - MARGIN, y);
    }

    fn row(&mut self, cells: &[Vec<String>], widths: &[f32], size: f32, bold: bool) {
        let top = self.y;
        let mut x = MARGIN;
        for (cell, w) in cells.iter().zip(widths) {
            for (i, line) in cell.iter().enumerate() {
                self.put(
                    x + 3.0,
                    top - size * 1.3 * (i as f32 + 1.0),
                    size,
                    bold,
                    line,
                );
            }
            x += w;
        }
        self.y = top - Self::row_height(cells, size);
        self.top_rule();
    }

    /// Signature blocks side by side: each a title, space to sign, a line, and the name below.
    pub fn signatures(&mut self, blocks: &[(&str, &str)], size: f32) {
        self.need(size * 8.0);
        let w = self.text_width() / blocks.len().max(1) as f32;
        let top = self.y - size * 1.35;
        for (i, (title, name)) in blocks.iter().enumerate() {
            let x = MARGIN + w * i as f32;
            self.put(x, top, size, false, title);
            let line_y = top - size * 4.5;
            self.rule(x, line_y, x + w - 20.0, line_y);
            self.put(x, line_y - size * 1.3, size, true, name);
        }
        self.y = top - size * 6.5;
    }

    /// The finished file.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.ops.is_empty() || self.pages.is_empty() {
            self.page_break();
        }
        let n = self.pages.len();
        // Objects: 1 catalog, 2 pages, 3–4 fonts, then a page and its content per page.
        let mut objects: Vec<String> = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".into(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {n} >>",
                (0..n)
                    .map(|i| format!("{} 0 R", 5 + 2 * i))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .into(),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
                .into(),
        ];
        for (i, ops) in self.pages.iter().enumerate() {
            objects.push(format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {WIDTH} {HEIGHT}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                6 + 2 * i
            ));
            objects.push(format!(
                "<< /Length {} >>\nstream\n{ops}endstream",
                ops.len()
            ));
        }
        let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for off in offsets {
            // Each entry is 20 bytes: the space before the newline is part of it.
            tail.push_str(&format!("{off:010} 00000 n \n"));
        }
        let _ = write!(
            tail,
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        out.extend_from_slice(tail.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_within_the_width_and_strings_escape() {
        let lines = wrap("Dusun Krajan RT 02 RW 01 Desa Sukamaju", 10.0, false, 80.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(
            lines
                .iter()
                .all(|l| width(l, 10.0, false) <= 80.0 || !l.contains(' '))
        );
        assert_eq!(literal("a (b) \\ — é ✓"), "(a \\(b\\) \\\\ \\227 \\351 ?)");
    }

    #[test]
    fn a_document_is_a_well_formed_pdf() {
        let mut d = Doc::new();
        d.centred("BERITA ACARA", 14.0, true);
        for i in 0..80 {
            d.paragraph(&format!("Baris {i}"), 10.0, false);
        }
        let pdf = d.finish();
        assert!(pdf.starts_with(b"%PDF-1.4"));
        let find = |needle: &[u8]| pdf.windows(needle.len()).rposition(|w| w == needle);
        assert!(find(b"/Count 2").is_some(), "two pages");
        // Each xref offset points at its object (offsets are bytes: the header has binary ones).
        let xref = find(b"xref\n").unwrap();
        let table = std::str::from_utf8(&pdf[xref..]).unwrap();
        for (i, line) in table.lines().skip(3).take(4).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
    }
}
